"""Custom strategy rules: a small expression language over indicators, parsed without ``eval``.

Grammar (case-insensitive keywords)::

    rule       := or
    or         := and ("or" and)*
    and        := not ("and" not)*
    not        := "not" not | comparison
    comparison := sum (("<" | "<=" | ">" | ">=" | "==" | "!=") sum)?
    sum        := product (("+" | "-") product)*
    product    := unary (("*" | "/") unary)*
    unary      := "-" unary | atom
    atom       := NUMBER | "(" or ")" | NAME | NAME "(" [arg ("," arg)*] ")"

Names: ``open high low close volume``. Functions: ``sma(n) ema(n) rsi(n) macd() macd_signal()
macd_hist() bb_upper(n, k) bb_middle(n) bb_lower(n, k) highest(n) lowest(n) change(n)
crosses_above(a, b) crosses_below(a, b)``; periods are integers 1…1000, ``sma``/``ema``/``highest``/
``lowest`` take an optional source as second argument (``sma(50, volume)``).

:func:`parse` turns text into a tree of tuples and raises :class:`RuleError` with the column of
the bad token; :func:`evaluate` computes the tree over a candle DataFrame, vectorised.
"""

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from tradeapp.services.bots import indicators as ind

MAX_LENGTH = 500
MAX_DEPTH = 25
MAX_PERIOD = 1000
SERIES = ("open", "high", "low", "close", "volume")
KEYWORDS = ("and", "or", "not")
COMPARE = ("<=", ">=", "==", "!=", "<", ">")

#: function name → (min args, max args, description); arguments checked in :func:`_check_call`
FUNCTIONS = {
    "sma": (1, 2, "simple moving average: sma(period[, source])"),
    "ema": (1, 2, "exponential moving average: ema(period[, source])"),
    "rsi": (1, 1, "relative strength index: rsi(period)"),
    "macd": (0, 3, "MACD line: macd([fast, slow, signal])"),
    "macd_signal": (0, 3, "MACD signal line: macd_signal([fast, slow, signal])"),
    "macd_hist": (0, 3, "MACD histogram: macd_hist([fast, slow, signal])"),
    "bb_upper": (1, 2, "upper Bollinger band: bb_upper(period[, width])"),
    "bb_middle": (1, 1, "middle Bollinger band: bb_middle(period)"),
    "bb_lower": (1, 2, "lower Bollinger band: bb_lower(period[, width])"),
    "highest": (1, 2, "highest value over a window: highest(period[, source])"),
    "lowest": (1, 2, "lowest value over a window: lowest(period[, source])"),
    "change": (1, 1, "percent change over n bars: change(n)"),
    "crosses_above": (2, 2, "crosses_above(a, b): a goes from ≤ b to > b"),
    "crosses_below": (2, 2, "crosses_below(a, b): a goes from ≥ b to < b"),
}

TOKEN_RE = re.compile(
    r"\s*(?:(?P<number>\d+(?:\.\d+)?)|(?P<name>[A-Za-z_][A-Za-z_0-9]*)|(?P<op><=|>=|==|!=|[<>()+\-*/,]))",
    re.ASCII,
)


class RuleError(ValueError):
    """A rule that does not parse or check; ``column`` is 1-based, pointing at the bad token."""

    def __init__(self, message: str, column: int, token: str = ""):
        super().__init__(f"{message} (column {column})")
        self.message = message
        self.column = column
        self.token = token


@dataclass
class Token:
    kind: str  # number, name, op, end
    text: str
    column: int


def tokenize(text: str) -> list[Token]:
    if len(text) > MAX_LENGTH:
        raise RuleError(f"A rule may be at most {MAX_LENGTH} characters.", MAX_LENGTH + 1)
    tokens, pos = [], 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        match = TOKEN_RE.match(text, pos)
        if match is None or match.end() == pos:
            bad = text[pos:].lstrip()
            column = len(text) - len(bad) + 1
            raise RuleError(f"Unexpected character {bad[:1]!r}.", column, bad[:1])
        kind = match.lastgroup
        start = match.start(kind)
        tokens.append(Token(kind, match.group(kind), start + 1))
        pos = match.end()
    tokens.append(Token("end", "", len(text) + 1))
    return tokens


class _Parser:
    def __init__(self, text: str):
        self.tokens = tokenize(text)
        self.pos = 0
        self.depth = 0

    @property
    def tok(self) -> Token:
        return self.tokens[self.pos]

    def take(self) -> Token:
        token = self.tokens[self.pos]
        self.pos += 1
        return token

    def word(self, word: str) -> bool:
        return self.tok.kind == "name" and self.tok.text.lower() == word

    def fail(self, expected: str):
        token = self.tok
        if token.kind == "end":
            raise RuleError(f"The rule ends early: expected {expected}.", token.column)
        raise RuleError(f"Unexpected {token.text!r}: expected {expected}.", token.column, token.text)

    def nest(self):
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise RuleError(f"The rule nests more than {MAX_DEPTH} levels deep.", self.tok.column, self.tok.text)

    def parse(self):
        if self.tok.kind == "end":
            raise RuleError("The rule is empty.", 1)
        tree = self.or_()
        if self.tok.kind != "end":
            self.fail("'and', 'or', an operator or the end of the rule")
        if tree[0] not in ("and", "or", "not", "cmp", "call") or (
            tree[0] == "call" and tree[1] not in ("crosses_above", "crosses_below")
        ):
            raise RuleError("A rule must be a condition, e.g. 'rsi(14) < 30'.", 1)
        return tree

    def or_(self):
        self.nest()
        left = self.and_()
        while self.word("or"):
            self.take()
            left = ("or", left, self.and_())
        self.depth -= 1
        return left

    def and_(self):
        left = self.not_()
        while self.word("and"):
            self.take()
            left = ("and", left, self.not_())
        return left

    def not_(self):
        if self.word("not"):
            self.take()
            self.nest()
            inner = self.not_()
            self.depth -= 1
            return ("not", inner)
        return self.comparison()

    def comparison(self):
        left = self.sum_()
        if self.tok.kind == "op" and self.tok.text in COMPARE:
            op = self.take().text
            right = self.sum_()
            if self.tok.kind == "op" and self.tok.text in COMPARE:
                self.fail("'and' or 'or' between two comparisons")
            return ("cmp", op, left, right)
        return left

    def sum_(self):
        left = self.product()
        while self.tok.kind == "op" and self.tok.text in "+-":
            op = self.take().text
            left = ("arith", op, left, self.product())
        return left

    def product(self):
        left = self.unary()
        while self.tok.kind == "op" and self.tok.text in "*/":
            op = self.take().text
            left = ("arith", op, left, self.unary())
        return left

    def unary(self):
        if self.tok.kind == "op" and self.tok.text == "-":
            self.take()
            self.nest()
            inner = self.unary()
            self.depth -= 1
            return ("neg", inner)
        return self.atom()

    def atom(self):
        token = self.tok
        if token.kind == "number":
            self.take()
            return ("num", float(token.text))
        if token.kind == "op" and token.text == "(":
            self.take()
            inner = self.or_()
            if not (self.tok.kind == "op" and self.tok.text == ")"):
                self.fail("')'")
            self.take()
            return inner
        if token.kind == "name":
            name = token.text.lower()
            if name in KEYWORDS:
                self.fail("a value (a number, a price such as 'close', or a function such as 'rsi(14)')")
            self.take()
            if self.tok.kind == "op" and self.tok.text == "(":
                return self.call(name, token)
            if name in SERIES:
                return ("series", name)
            if name in FUNCTIONS:
                raise RuleError(f"'{name}' needs arguments: {FUNCTIONS[name][2]}.", token.column, token.text)
            raise RuleError(
                f"Unknown name {token.text!r}: use {', '.join(SERIES)} or a function.", token.column, token.text
            )
        self.fail("a value (a number, a price such as 'close', or a function such as 'rsi(14)')")

    def call(self, name: str, token: Token):
        if name not in FUNCTIONS:
            raise RuleError(
                f"Unknown function {token.text!r}: use one of {', '.join(FUNCTIONS)}.", token.column, token.text
            )
        self.take()  # "("
        args = []
        if not (self.tok.kind == "op" and self.tok.text == ")"):
            while True:
                args.append((self.tok.column, self.or_()))
                if self.tok.kind == "op" and self.tok.text == ",":
                    self.take()
                    continue
                break
        if not (self.tok.kind == "op" and self.tok.text == ")"):
            self.fail("',' or ')'")
        self.take()
        _check_call(name, token, args)
        return ("call", name, tuple(arg for _col, arg in args))


def _check_call(name: str, token: Token, args: list) -> None:
    low, high, usage = FUNCTIONS[name]
    if not low <= len(args) <= high:
        raise RuleError(f"{name}() takes {usage.split(': ')[-1]}.", token.column, token.text)
    if name in ("crosses_above", "crosses_below"):
        return
    for index, (column, arg) in enumerate(args):
        source_slot = index == 1 and name in ("sma", "ema", "highest", "lowest")
        if source_slot:
            if arg[0] != "series":
                raise RuleError(f"{name}()'s second argument is a source: {', '.join(SERIES)}.", column)
            continue
        width_slot = index == 1 and name in ("bb_upper", "bb_lower")
        if arg[0] != "num":
            raise RuleError(f"{name}() takes numbers here: {usage}.", column)
        value = arg[1]
        if width_slot:
            if not 0 < value <= 10:
                raise RuleError("A band width must be above 0 and at most 10.", column)
        elif value != int(value) or not 1 <= value <= MAX_PERIOD:
            raise RuleError(f"A period must be a whole number from 1 to {MAX_PERIOD}.", column)


def parse(text: str):
    """The rule's tree; :class:`RuleError` (with the bad token's column) when it is not a valid rule."""
    if not isinstance(text, str):
        raise RuleError("A rule is text.", 1)
    return _Parser(text).parse()


def validate(text: str) -> str | None:
    """None when ``text`` is a valid rule, else the error message (for forms and the API)."""
    try:
        parse(text)
    except RuleError as exc:
        return str(exc)
    return None


# -- evaluation ----------------------------------------------------------------------------------


def _as_series(value, index) -> pd.Series:
    if isinstance(value, pd.Series):
        return value
    return pd.Series(float(value), index=index)


def evaluate(tree, df: pd.DataFrame, cache: dict | None = None):
    """The tree's value over ``df`` (a Series, or a float for constants); conditions are boolean Series."""
    cache = {} if cache is None else cache
    kind = tree[0]
    if kind == "num":
        return tree[1]
    if kind == "series":
        return df[tree[1]].astype(float)
    if kind == "neg":
        return -evaluate(tree[1], df, cache)
    if kind == "arith":
        a, b = evaluate(tree[2], df, cache), evaluate(tree[3], df, cache)
        if tree[1] == "/":
            with np.errstate(divide="ignore", invalid="ignore"):
                out = a / b if isinstance(b, pd.Series) or b != 0 else a * np.nan
            return out.replace([np.inf, -np.inf], np.nan) if isinstance(out, pd.Series) else out
        return {"+": lambda: a + b, "-": lambda: a - b, "*": lambda: a * b}[tree[1]]()
    if kind == "cmp":
        a = _as_series(evaluate(tree[2], df, cache), df.index)
        b = evaluate(tree[3], df, cache)
        op = tree[1]
        result = {"<": a.lt, "<=": a.le, ">": a.gt, ">=": a.ge, "==": a.eq, "!=": a.ne}[op](b)
        valid = a.notna() & (b.notna() if isinstance(b, pd.Series) else True)
        return (result & valid).astype(bool)
    if kind in ("and", "or"):
        a = _truth(evaluate(tree[1], df, cache), df.index)
        b = _truth(evaluate(tree[2], df, cache), df.index)
        return (a & b) if kind == "and" else (a | b)
    if kind == "not":
        return ~_truth(evaluate(tree[1], df, cache), df.index)
    if kind == "call":
        key = repr(tree)
        if key not in cache:
            cache[key] = _call(tree[1], tree[2], df, cache)
        return cache[key]
    raise ValueError(f"unknown node {kind!r}")


def _truth(value, index) -> pd.Series:
    if isinstance(value, pd.Series):
        if value.dtype == bool:
            return value
        return (value.fillna(0) != 0).astype(bool)
    return pd.Series(bool(value), index=index)


def _call(name: str, args: tuple, df: pd.DataFrame, cache: dict):
    nums = [a[1] for a in args if a[0] == "num"]
    close = df["close"].astype(float)
    if name in ("sma", "ema", "highest", "lowest"):
        source = df[args[1][1]].astype(float) if len(args) > 1 else close
        period = int(nums[0])
        if name == "sma":
            return ind.sma(source, period)
        if name == "ema":
            return ind.ema(source, period)
        window = source.rolling(period, min_periods=period)
        return window.max() if name == "highest" else window.min()
    if name == "rsi":
        return ind.rsi(close, int(nums[0]))
    if name.startswith("macd"):
        fast, slow, signal = ([int(n) for n in nums] + [12, 26, 9][len(nums) :])[:3]
        line, sig = ind.macd(close, fast, slow, signal)
        return {"macd": line, "macd_signal": sig, "macd_hist": line - sig}[name]
    if name.startswith("bb_"):
        width = nums[1] if len(nums) > 1 else 2.0
        lower, middle, upper = ind.bollinger(close, int(nums[0]), width)
        return {"bb_upper": upper, "bb_middle": middle, "bb_lower": lower}[name]
    if name == "change":
        return close.pct_change(int(nums[0]), fill_method=None) * 100.0
    if name in ("crosses_above", "crosses_below"):
        a = _as_series(evaluate(args[0], df, cache), df.index)
        b = _as_series(evaluate(args[1], df, cache), df.index)
        return ind.crosses_above(a, b) if name == "crosses_above" else ind.crosses_below(a, b)
    raise ValueError(f"unknown function {name!r}")


def signal(text: str, df: pd.DataFrame, cache: dict | None = None) -> pd.Series:
    """The rule as a boolean Series over ``df`` (False where its indicators are not yet defined)."""
    return _truth(evaluate(parse(text), df, cache), df.index).fillna(False).astype(bool)
