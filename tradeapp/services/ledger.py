"""Double-entry bookkeeping primitives used by every money-moving service.

These functions never commit: they run inside the caller's unit of work, which commits once.
They lock the wallets they touch, by id, so two operations on the same wallets serialise
instead of losing updates, and never deadlock. Platform account balances (which only add up)
are updated at commit, in id order, so the busy ones never serialise the whole platform.
"""

import functools
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from sqlalchemy import bindparam, event, func, select
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.util import identity_key

from tradeapp.currencies import get_currency
from tradeapp.errors import DomainError, IllegalTransition
from tradeapp.extensions import db
from tradeapp.models import Hold, JournalEntry, PlatformAccount, Posting, Transaction, User, Wallet
from tradeapp.models.ledger import PLATFORM_ACCOUNTS
from tradeapp.models.types import utcnow
from tradeapp.services import audit
from tradeapp.services.rows import attach, bound_values, insert_all, insert_rows, upsert_insert
from tradeapp.services.uow import unit_of_work

ZERO = Decimal(0)
_WALLETS = Wallet.__table__
_PLATFORMS = PlatformAccount.__table__
_POSTINGS = Posting.__table__


class InsufficientFunds(DomainError):
    """The wallet's available balance does not cover the amount."""

    status = 400
    code = "insufficient_funds"


class LedgerError(Exception):
    """A programming error: an unbalanced entry, a bad amount. Never shown to users."""


Account = Wallet | PlatformAccount


@dataclass(frozen=True)
class Leg:
    """One side of an entry: ``amount`` into (+) or out of (-) ``account``."""

    account: Account
    amount: Decimal


# -- accounts ----------------------------------------------------------------------------------


def wallet_for(user: User | int, currency: str) -> Wallet:
    """The user's wallet in ``currency``, created (race-safely) on first use."""
    user_id = user if isinstance(user, int) else user.id
    currency = get_currency(currency).code
    wallet = db.session.scalar(select(Wallet).where(Wallet.user_id == user_id, Wallet.currency == currency))
    if wallet is None:
        now = utcnow()
        db.session.execute(
            upsert_insert(Wallet)
            .values(
                user_id=user_id, currency=currency, balance=ZERO, locked_balance=ZERO, created_at=now, updated_at=now
            )
            .on_conflict_do_nothing(index_elements=["user_id", "currency"])
        )
        wallet = db.session.scalar(select(Wallet).where(Wallet.user_id == user_id, Wallet.currency == currency))
    return wallet


def ensure_wallets(user_ids: Iterable[int], currencies: Iterable[str]) -> None:
    """Create the users' wallets in ``currencies`` that do not exist yet, in one statement (a fan-out's setup)."""
    codes = sorted({get_currency(c).code for c in currencies})
    ids = sorted(set(user_ids))
    if not ids or not codes:
        return
    now = utcnow()
    rows = [
        {"user_id": u, "currency": c, "balance": ZERO, "locked_balance": ZERO, "created_at": now, "updated_at": now}
        for u in ids
        for c in codes
    ]
    # executemany: one cached statement, not a VALUES list compiled anew for each size
    db.session.execute(upsert_insert(_WALLETS).on_conflict_do_nothing(index_elements=["user_id", "currency"]), rows)


def platform_account(code: str, currency: str) -> PlatformAccount:
    """The platform account ``code`` in ``currency``, created on first use."""
    if code not in PLATFORM_ACCOUNTS:
        raise LedgerError(f"unknown platform account {code!r}")
    currency = get_currency(currency).code
    query = select(PlatformAccount).where(PlatformAccount.code == code, PlatformAccount.currency == currency)
    account = db.session.scalar(query)
    if account is None:
        db.session.execute(
            upsert_insert(PlatformAccount)
            .values(code=code, currency=currency, balance=ZERO, created_at=utcnow())
            .on_conflict_do_nothing(index_elements=["code", "currency"])
        )
        account = db.session.scalar(query)
    return account


def lock_wallets(wallet_ids: Iterable[int]) -> dict[int, Wallet]:
    """``SELECT … FOR NO KEY UPDATE`` the wallets in id order and refresh them from the database.

    ``NO KEY UPDATE`` excludes every other writer of these rows but not the foreign-key checks of
    rows that merely point at them (postings, holds, history lines of other transactions).
    Wallets this transaction already locked are not selected again: nobody else can have changed
    them since, and every change this transaction made is on the session's copies.
    """
    ids = sorted(set(wallet_ids))
    if not ids:
        return {}
    held = _held("wallets")
    found = {i: obj for i in ids if i in held and (obj := _loaded(Wallet, i)) is not None}
    missing = [i for i in ids if i not in found]
    if missing:
        rows = db.session.scalars(
            select(Wallet)
            .where(Wallet.id.in_(missing))
            .order_by(Wallet.id)
            .with_for_update(key_share=True)
            .execution_options(populate_existing=True)
        ).all()
        held.update(w.id for w in rows)
        found.update((w.id, w) for w in rows)
    return found


# Built once: on the hot path, building and hashing a statement costs about as much as running it.
_USER_WALLETS = (
    select(Wallet)
    .where(Wallet.user_id == bindparam("user_id"), Wallet.currency.in_(bindparam("codes", expanding=True)))
    .order_by(Wallet.id)
    .with_for_update(key_share=True)
    .execution_options(populate_existing=True)
)


def lock_user_wallets(user_id: int, currencies: Iterable[str]) -> dict[str, Wallet]:
    """The user's wallets in ``currencies`` (created on first use), locked together in id order."""
    codes = sorted({get_currency(c).code for c in currencies})
    params = {"user_id": user_id, "codes": codes}
    rows = db.session.scalars(_USER_WALLETS, params).all()
    if len(rows) < len(codes):
        for code in set(codes) - {w.currency for w in rows}:
            wallet_for(user_id, code)
        rows = db.session.scalars(_USER_WALLETS, params).all()
    _held("wallets").update(w.id for w in rows)
    return {w.currency: w for w in rows}


def mark_locked(wallets: Iterable[Wallet]) -> None:
    """Note wallets the caller selected ``FOR NO KEY UPDATE`` in id order (with ``populate_existing``)
    in this transaction: postings and holds use the session's copies instead of locking them again."""
    _held("wallets").update(w.id for w in wallets)


def _held(kind: str) -> set[int]:
    """Ids of the wallets or holds this transaction has locked (forgotten when it ends)."""
    return db.session.info.setdefault(_HELD, {"wallets": set(), "holds": set()})[kind]


def _loaded(model, ident: int):
    return db.session.identity_map.get(identity_key(model, ident))


# Called at import only, to build the constants below: mutmut switches its mutants on after the
# import, so none of them could ever run (bench/README.md). The statements are exercised by every post.
def _lock_statement(model, *columns):  # pragma: no mutate block
    return (
        select(model.id, *columns)
        .where(model.id.in_(bindparam("ids", expanding=True)))
        .order_by(model.id)
        .with_for_update(key_share=True)
    )


# Built once: on the hot path, building and hashing a statement costs about as much as running it.
_LOCK_WALLETS = _lock_statement(Wallet, Wallet.balance, Wallet.locked_balance)
_INSERT_POSTINGS = _POSTINGS.insert()
_UPDATE_WALLETS = _WALLETS.update().where(_WALLETS.c.id == bindparam("w_id"))
_LOCK_PLATFORMS = _lock_statement(PlatformAccount, PlatformAccount.balance)
_UPDATE_PLATFORMS = _PLATFORMS.update().where(_PLATFORMS.c.id == bindparam("p_id"))
_ADD_TO_PLATFORMS = (
    _PLATFORMS.update()
    .where(_PLATFORMS.c.id == bindparam("p_id"))
    .values(balance=_PLATFORMS.c.balance + bindparam("delta", type_=_PLATFORMS.c.balance.type))
)


def _lock_rows(statement, ids: Iterable[int]) -> dict[int, tuple]:
    """Run a ``SELECT id, … FOR UPDATE … ORDER BY id`` over ``ids``: {id: (values…)}, locked in id order."""
    ids = sorted(set(ids))
    if not ids:
        return {}
    return {row[0]: tuple(row[1:]) for row in db.session.execute(statement, {"ids": ids})}


def _wallet_rows(ids: Iterable[int]) -> dict[int, tuple[Decimal, Decimal]]:
    """``{id: (balance, locked_balance)}`` of the wallets, locked (from the session's copies when already held)."""
    ids = sorted(set(ids))
    held = _held("wallets")
    rows = {i: (obj.balance, obj.locked_balance) for i in ids if i in held and (obj := _loaded(Wallet, i)) is not None}
    missing = [i for i in ids if i not in rows]
    if missing:
        rows.update(_lock_rows(_LOCK_WALLETS, missing))
        held.update(missing)
    return rows


def _sync_loaded(model, ident: int, values: dict) -> None:
    """Give the session's copy of a row (if it has one) the values just written to it."""
    obj = db.session.identity_map.get(identity_key(model, ident))
    if obj is not None:
        for key, value in values.items():
            set_committed_value(obj, key, value)


def _check_amount(amount: Decimal, currency: str) -> None:
    if not isinstance(amount, Decimal) or not amount.is_finite():
        raise LedgerError(f"amount must be a finite Decimal, got {amount!r}")
    quantum = get_currency(currency).quantum
    if amount != amount.quantize(quantum):
        raise LedgerError(f"{amount} has more decimals than {currency} allows")


# -- entries -------------------------------------------------------------------------------------


def post(
    kind: str,
    legs: Sequence[Leg],
    *,
    memo: str = "",
    reference: str = "",
    actor: User | None = None,
    reverses: JournalEntry | None = None,
    lines: Sequence[Transaction] = (),
    _hold_debits: dict[int, Decimal] | None = None,
) -> JournalEntry:
    """Record a balanced entry and update the cached balances in the same transaction.

    A wallet may only be debited from its available balance (balance − held), except for
    debits that consume its own hold (``_hold_debits``, used by :func:`settle`).
    ``lines`` are new history lines (``Transaction``, all with the same columns set) that record
    this entry: they get its id and are inserted with it (in the same statement on PostgreSQL).

    :raise InsufficientFunds: when a wallet would go below what is held
    :raise LedgerError: when the legs do not balance per currency
    """
    if len(legs) < 2:
        raise LedgerError("an entry needs at least two legs")
    totals: dict[str, Decimal] = defaultdict(lambda: ZERO)
    for leg in legs:
        if leg.amount == 0:
            raise LedgerError("zero-amount leg")
        _check_amount(leg.amount, leg.account.currency)
        totals[leg.account.currency] += leg.amount
    unbalanced = {cur: total for cur, total in totals.items() if total != 0}
    if unbalanced:
        raise LedgerError(f"entry does not balance: {unbalanced}")

    # Lock what the entry touches (wallets first, then platform accounts, each in id order) and
    # work out every new balance before writing anything. Plain rows, not entities: the writes
    # below are one executemany per table, and the session's copies are given the new values.
    wallets = _wallet_rows(leg.account.id for leg in legs if isinstance(leg.account, Wallet))
    platform_deltas: dict[int, Decimal] = defaultdict(lambda: ZERO)
    hold_debits = dict(_hold_debits or {})
    postings = []
    for leg in legs:
        account = leg.account
        if isinstance(account, Wallet):
            balance, locked = wallets[account.id]
            released = hold_debits.pop(account.id, ZERO)
            new_balance = balance + leg.amount
            new_locked = locked - released
            if new_balance < 0 or new_locked < 0 or new_balance < new_locked:
                raise InsufficientFunds(
                    f"Insufficient available {account.currency} balance.",
                    {"amount": [f"Insufficient available {account.currency} balance."]},
                )
            wallets[account.id] = (new_balance, new_locked)
            postings.append({"wallet_id": account.id, "platform_account_id": None})
        else:
            platform_deltas[account.id] += leg.amount
            postings.append({"wallet_id": None, "platform_account_id": account.id})
        postings[-1].update(currency=account.currency, amount=leg.amount)

    now = utcnow()
    entry = JournalEntry(
        kind=kind,
        memo=memo[:255],
        reference=reference[:100],
        created_by_id=actor.id if actor is not None else None,
        reverses_id=reverses.id if reverses is not None else None,
        created_at=now,
    )
    if db.session.get_bind().dialect.name == "postgresql":
        _write_entry(entry, postings, wallets, lines)
    else:
        insert_all([entry])
        for line in lines:
            line.entry_id = entry.id
        insert_all(lines)
        for posting in postings:
            posting["entry_id"] = entry.id
        db.session.execute(_INSERT_POSTINGS, postings)
        if wallets:
            db.session.execute(
                _UPDATE_WALLETS,
                [
                    {"w_id": wallet_id, "balance": balance, "locked_balance": locked, "updated_at": now}
                    for wallet_id, (balance, locked) in wallets.items()
                ],
            )
    for wallet_id, (balance, locked) in wallets.items():
        _sync_loaded(Wallet, wallet_id, {"balance": balance, "locked_balance": locked, "updated_at": now})
    if platform_deltas:
        pending = db.session.info.setdefault(_PLATFORM_DELTAS, defaultdict(lambda: ZERO))
        for account_id, delta in platform_deltas.items():
            pending[account_id] += delta
    db.session.flush()
    return entry


# One statement on PostgreSQL: the entry, its postings (in the legs' order), the wallets' new
# balances and the history lines that record it. Each is a round trip and a trip through
# SQLAlchemy's execution otherwise, and a transfer or a market order posts one entry. The wallets
# are already locked (``_wallet_rows``).
_POST_ENTRY = """
WITH entry AS (
    INSERT INTO journal_entries (kind, memo, reference, reverses_id, created_by_id, created_at)
    VALUES (%(kind)s, %(memo)s, %(reference)s, %(reverses_id)s, %(created_by_id)s, %(created_at)s)
    RETURNING id
), legs AS (
    INSERT INTO postings (entry_id, wallet_id, platform_account_id, currency, amount)
    SELECT entry.id, leg.wallet_id, leg.platform_account_id, leg.currency, leg.amount
    FROM entry, unnest(
        %(wallet_ids)s::integer[], %(platform_ids)s::integer[], %(currencies)s::varchar[], %(amounts)s::numeric[]
    ) WITH ORDINALITY AS leg(wallet_id, platform_account_id, currency, amount, n)
    ORDER BY leg.n
), moved AS (
    UPDATE wallets SET balance = w.balance, locked_balance = w.locked_balance, updated_at = %(created_at)s
    FROM unnest(%(w_ids)s::integer[], %(w_balances)s::numeric[], %(w_locked)s::numeric[])
        AS w(id, balance, locked_balance)
    WHERE wallets.id = w.id
){lines}
SELECT id, {line_ids} FROM entry
"""


@functools.cache
def _post_statement(line_columns: tuple[str, ...]) -> str:
    """:data:`_POST_ENTRY`, inserting history lines with these columns (besides ``entry_id``) when there are any."""
    if not line_columns:
        return _POST_ENTRY.format(lines="", line_ids="NULL")
    dialect = postgresql.dialect()
    table = Transaction.__table__
    arrays = ", ".join(f"%(line_{c})s::{table.c[c].type.compile(dialect=dialect)}[]" for c in line_columns)
    # column names and types from the model's metadata, never from input
    lines = f""", lines AS (
    INSERT INTO transactions ({", ".join(line_columns)}, entry_id)
    SELECT {", ".join(f"line.{c}" for c in line_columns)}, entry.id
    FROM entry, unnest({arrays}) WITH ORDINALITY AS line({", ".join(line_columns)}, n)
    ORDER BY line.n
    RETURNING id
)"""  # noqa: S608
    return _POST_ENTRY.format(lines=lines, line_ids="(SELECT array_agg(id ORDER BY id) FROM lines)")


def _write_entry(
    entry: JournalEntry,
    postings: list[dict],
    wallets: dict[int, tuple[Decimal, Decimal]],
    lines: Sequence[Transaction],
) -> None:
    """INSERT ``entry``, its postings and history ``lines`` and UPDATE the wallets' balances in one
    statement (PostgreSQL); ``entry`` and ``lines`` become persistent in the session."""
    session = db.session()
    session.flush()  # rows the entry references (its actor, the entry it reverses) may still be pending
    params = {
        "kind": entry.kind,
        "memo": entry.memo,
        "reference": entry.reference,
        "reverses_id": entry.reverses_id,
        "created_by_id": entry.created_by_id,
        "created_at": entry.created_at,
        "wallet_ids": [p["wallet_id"] for p in postings],
        "platform_ids": [p["platform_account_id"] for p in postings],
        "currencies": [p["currency"] for p in postings],
        "amounts": [p["amount"] for p in postings],
        "w_ids": list(wallets),
        "w_balances": [balance for balance, _ in wallets.values()],
        "w_locked": [locked for _, locked in wallets.values()],
    }
    columns: list[str] = []
    if lines:
        dialect = session.get_bind().dialect
        rows = [bound_values(line, dialect) for line in lines]  # the lines' entry_id is left unset
        columns = rows[0][1]
        for n, column in enumerate(columns):
            params[f"line_{column}"] = [values[n] for values, _ in rows]
    entry_id, line_ids = session.connection().exec_driver_sql(_post_statement(tuple(columns)), params).one()
    attach(entry, id=entry_id)
    for line, line_id in zip(lines, line_ids or (), strict=True):
        attach(line, id=line_id, entry_id=entry_id)


# -- platform balances: applied at commit ---------------------------------------------------------
# Every fill and fee credits the same few platform accounts (``trading``, ``fees``). Locking those
# rows when the entry is posted would make every order on the platform wait for the one before it
# to commit. Their balances only ever add up (no rule reads them mid-transaction and they may go
# negative), so ``post`` collects the deltas and they are applied just before the commit, in id
# order: the rows stay locked for the commit alone. Customers' wallets, which have rules, are
# still locked and checked when the entry is posted.

_PLATFORM_DELTAS = "ledger.platform_deltas"
#: the wallets and holds the current transaction holds row locks on
_HELD = "ledger.held"


@event.listens_for(Session, "before_commit")
def _apply_platform_deltas(session: Session) -> None:
    deltas = session.info.pop(_PLATFORM_DELTAS, None)
    if not deltas:
        return
    ids = [account_id for account_id in sorted(deltas) if deltas[account_id] != 0]
    if not ids:
        return
    if session.get_bind().dialect.name == "postgresql":
        # NUMERIC adds exactly: one UPDATE per row in id order, in one round trip, each taking its
        # row lock as it adds; loaded copies read the new balance when next used.
        session.execute(_ADD_TO_PLATFORMS, [{"p_id": account_id, "delta": deltas[account_id]} for account_id in ids])
        for account_id in ids:
            obj = session.identity_map.get(identity_key(PlatformAccount, account_id))
            if obj is not None:
                session.expire(obj, ["balance"])
        return
    # SQLite adds decimals as floats: read, add in Python, write.
    current = {row[0]: row[1] for row in session.execute(_LOCK_PLATFORMS, {"ids": ids})}
    session.execute(
        _UPDATE_PLATFORMS,
        [{"p_id": account_id, "balance": current[account_id] + deltas[account_id]} for account_id in ids],
    )
    for account_id in ids:
        obj = session.identity_map.get(identity_key(PlatformAccount, account_id))
        if obj is not None:
            set_committed_value(obj, "balance", current[account_id] + deltas[account_id])


@event.listens_for(Session, "after_transaction_end")
def _forget_platform_deltas(session: Session, transaction) -> None:
    if transaction.parent is None:  # a rollback (or a commit) of the whole transaction: locks are gone
        session.info.pop(_PLATFORM_DELTAS, None)
        session.info.pop(_HELD, None)


def reverse(entry: JournalEntry, *, memo: str = "", actor: User | None = None) -> JournalEntry:
    """Undo ``entry`` with an opposite entry (at most once)."""
    if db.session.scalar(select(JournalEntry.id).where(JournalEntry.reverses_id == entry.id)) is not None:
        raise IllegalTransition("This entry was already reversed.")
    legs = []
    for posting in entry.postings:
        account = (
            db.session.get(Wallet, posting.wallet_id)
            if posting.wallet_id is not None
            else db.session.get(PlatformAccount, posting.platform_account_id)
        )
        legs.append(Leg(account, -posting.amount))
    return post(
        "reversal",
        legs,
        memo=memo or f"Reversal of entry {entry.id}",
        reference=entry.reference,
        actor=actor,
        reverses=entry,
    )


# -- holds ---------------------------------------------------------------------------------------


def place_hold(wallet: Wallet, amount: Decimal, reason: str, reference: str = "") -> Hold:
    """Reserve ``amount`` of the wallet's available balance.

    :raise InsufficientFunds: when available balance is lower than ``amount``
    """
    _check_amount(amount, wallet.currency)
    if amount <= 0:
        raise LedgerError("hold amount must be positive")
    locked = lock_wallets([wallet.id])[wallet.id]
    if locked.balance - locked.locked_balance < amount:
        raise InsufficientFunds(
            f"Insufficient available {locked.currency} balance.",
            {"amount": [f"Insufficient available {locked.currency} balance."]},
        )
    locked.locked_balance = locked.locked_balance + amount
    hold = Hold(
        wallet_id=locked.id,
        reason=reason,
        reference=reference[:100],
        amount=amount,
        remaining=amount,
        posted_total=ZERO,
        status="active",
    )
    db.session.add(hold)
    db.session.flush()
    _held("holds").add(hold.id)  # a row this transaction inserted: nobody else sees it yet
    return hold


def _lock_hold(hold: Hold) -> Hold:
    # Wallet first, then the hold: the same order as every other path.
    lock_wallets([hold.wallet_id])
    held = _held("holds")
    if hold.id in held and (loaded := _loaded(Hold, hold.id)) is not None:
        return loaded
    locked = db.session.scalar(
        select(Hold).where(Hold.id == hold.id).with_for_update(key_share=True).execution_options(populate_existing=True)
    )
    held.add(hold.id)
    return locked


def lock_holds(hold_ids: Iterable[int]) -> dict[int, Hold]:
    """Lock many holds at once (their wallets must already be locked, as every path takes wallets first).

    For a fan-out that settles or releases thousands of holds in one transaction: one statement
    instead of one per hold; later :func:`release_hold` / :func:`settle_hold` / :func:`grow_hold`
    calls use these copies.
    """
    ids = sorted(set(hold_ids))
    if not ids:
        return {}
    rows = db.session.scalars(
        select(Hold)
        .where(Hold.id.in_(ids))
        .order_by(Hold.id)
        .with_for_update(key_share=True)
        .execution_options(populate_existing=True)
    ).all()
    _held("holds").update(h.id for h in rows)
    return {h.id: h for h in rows}


def release_hold(hold: Hold, amount: Decimal | None = None) -> Hold:
    """Give back ``amount`` (default: all that remains) of an active hold."""
    hold = _lock_hold(hold)
    if hold.status != "active":
        raise IllegalTransition(f"Hold {hold.id} is {hold.status}.")
    amount = hold.remaining if amount is None else amount
    _check_amount(amount, hold.wallet.currency)
    if amount <= 0 or amount > hold.remaining:
        raise LedgerError(f"cannot release {amount} of hold {hold.id} (remaining {hold.remaining})")
    wallet = hold.wallet
    wallet.locked_balance = wallet.locked_balance - amount
    hold.remaining = hold.remaining - amount
    _close_if_done(hold)
    db.session.flush()
    return hold


def grow_hold(hold: Hold, amount: Decimal) -> Hold:
    """Reserve ``amount`` more of the wallet's available balance under an active hold.

    For a standing reservation that money flows back into (a copy-trading allocation gets a
    sale's proceeds back): one hold, rather than a new row per movement.

    :raise InsufficientFunds: when available balance is lower than ``amount``
    """
    hold = _lock_hold(hold)
    if hold.status != "active":
        raise IllegalTransition(f"Hold {hold.id} is {hold.status}.")
    _check_amount(amount, hold.wallet.currency)
    if amount <= 0:
        raise LedgerError("hold amount must be positive")
    wallet = hold.wallet
    if wallet.balance - wallet.locked_balance < amount:
        raise InsufficientFunds(
            f"Insufficient available {wallet.currency} balance.",
            {"amount": [f"Insufficient available {wallet.currency} balance."]},
        )
    wallet.locked_balance = wallet.locked_balance + amount
    hold.amount = hold.amount + amount
    hold.remaining = hold.remaining + amount
    db.session.flush()
    return hold


def settle_hold(
    hold: Hold,
    amount: Decimal,
    counter_legs: Sequence[Leg],
    *,
    kind: str,
    memo: str = "",
    reference: str = "",
    actor: User | None = None,
) -> JournalEntry:
    """Spend ``amount`` out of an active hold: the wallet is debited and ``counter_legs`` credited."""
    hold = _lock_hold(hold)
    if hold.status != "active":
        raise IllegalTransition(f"Hold {hold.id} is {hold.status}.")
    if amount <= 0 or amount > hold.remaining:
        raise LedgerError(f"cannot settle {amount} of hold {hold.id} (remaining {hold.remaining})")
    entry = post(
        kind,
        [Leg(hold.wallet, -amount), *counter_legs],
        memo=memo,
        reference=reference or hold.reference,
        actor=actor,
        _hold_debits={hold.wallet_id: amount},
    )
    hold.remaining = hold.remaining - amount
    hold.posted_total = hold.posted_total + amount
    _close_if_done(hold)
    db.session.flush()
    return entry


def _close_if_done(hold: Hold) -> None:
    if hold.remaining == 0:
        hold.status = "posted" if hold.posted_total > 0 else "released"
        hold.closed_at = utcnow()


# -- reconciliation ------------------------------------------------------------------------------


@dataclass
class LedgerReport:
    """What ``ledger check`` found; ``ok`` when there is no drift at all."""

    entries: int = 0
    postings: int = 0
    wallets: int = 0
    unbalanced_entries: list[tuple[int, str, Decimal]] = field(default_factory=list)
    wallet_drift: list[tuple[int, str, Decimal, Decimal]] = field(default_factory=list)
    locked_drift: list[tuple[int, str, Decimal, Decimal]] = field(default_factory=list)
    negative_available: list[tuple[int, str, Decimal]] = field(default_factory=list)
    platform_drift: list[tuple[str, str, Decimal, Decimal]] = field(default_factory=list)
    currency_mismatch: list[int] = field(default_factory=list)
    #: holds marked posted/released that still reserve money
    open_closed_holds: list[int] = field(default_factory=list)
    totals: dict[str, dict[str, Decimal]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not (
            self.unbalanced_entries
            or self.wallet_drift
            or self.locked_drift
            or self.negative_available
            or self.platform_drift
            or self.currency_mismatch
            or self.open_closed_holds
        )

    def problems(self) -> list[str]:
        lines = []
        lines += [f"entry {e} does not balance in {c}: off by {d}" for e, c, d in self.unbalanced_entries]
        lines += [f"wallet {w} ({c}) balance {b} but postings say {p}" for w, c, b, p in self.wallet_drift]
        lines += [f"wallet {w} ({c}) locked {b} but active holds say {p}" for w, c, b, p in self.locked_drift]
        lines += [f"wallet {w} ({c}) has negative available balance {a}" for w, c, a in self.negative_available]
        lines += [f"platform {code} ({c}) balance {b} but postings say {p}" for code, c, b, p in self.platform_drift]
        lines += [f"posting {p} currency differs from its account" for p in self.currency_mismatch]
        lines += [f"hold {h} is closed but still reserves money" for h in self.open_closed_holds]
        return lines


def _sum_by(session, key_column, amount_column, *where) -> dict:
    """Exact sums grouped by ``key_column``: NUMERIC SUM on PostgreSQL, Decimal sums on SQLite."""
    if db.engine.dialect.name == "postgresql":
        rows = session.execute(select(key_column, func.sum(amount_column)).where(*where).group_by(key_column))
        return {k: Decimal(v) for k, v in rows}
    sums: dict = defaultdict(lambda: ZERO)
    for key, amount in session.execute(select(key_column, amount_column).where(*where)).yield_per(5000):
        sums[key] += amount
    return dict(sums)


def check() -> LedgerReport:
    """Recompute every balance from postings and holds; verify every entry balances.

    On PostgreSQL every query reads one snapshot (REPEATABLE READ, on a connection of its own):
    on a live system, under READ COMMITTED, a fill committing between the postings query and the
    wallets query showed as drift that was not there (found by bench/chaos_bench.py).
    """
    if db.engine.dialect.name == "postgresql":
        with db.engine.connect() as conn:
            snapshot = conn.execution_options(isolation_level="REPEATABLE READ")
            with Session(bind=snapshot) as session:
                return _check(session)
    return _check(db.session)


def _check(session) -> LedgerReport:
    report = LedgerReport()
    report.entries = session.scalar(select(func.count()).select_from(JournalEntry))
    report.postings = session.scalar(select(func.count()).select_from(Posting))

    if db.engine.dialect.name == "postgresql":
        rows = session.execute(
            select(Posting.entry_id, Posting.currency, func.sum(Posting.amount))
            .group_by(Posting.entry_id, Posting.currency)
            .having(func.sum(Posting.amount) != 0)
        )
        report.unbalanced_entries = [(e, c, Decimal(s)) for e, c, s in rows]
    else:
        sums: dict = defaultdict(lambda: ZERO)
        for e, c, a in session.execute(select(Posting.entry_id, Posting.currency, Posting.amount)).yield_per(5000):
            sums[(e, c)] += a
        report.unbalanced_entries = [(e, c, s) for (e, c), s in sums.items() if s != 0]

    by_wallet = _sum_by(session, Posting.wallet_id, Posting.amount, Posting.wallet_id.is_not(None))
    held = _sum_by(session, Hold.wallet_id, Hold.remaining, Hold.status == "active")
    totals: dict[str, dict[str, Decimal]] = defaultdict(lambda: {"balance": ZERO, "locked": ZERO})
    for wallet in session.scalars(select(Wallet).order_by(Wallet.id)).yield_per(2000):
        report.wallets += 1
        expected = by_wallet.get(wallet.id, ZERO)
        if wallet.balance != expected:
            report.wallet_drift.append((wallet.id, wallet.currency, wallet.balance, expected))
        expected_locked = held.get(wallet.id, ZERO)
        if wallet.locked_balance != expected_locked:
            report.locked_drift.append((wallet.id, wallet.currency, wallet.locked_balance, expected_locked))
        if wallet.balance - wallet.locked_balance < 0 or wallet.locked_balance < 0:
            report.negative_available.append((wallet.id, wallet.currency, wallet.balance - wallet.locked_balance))
        totals[wallet.currency]["balance"] += wallet.balance
        totals[wallet.currency]["locked"] += wallet.locked_balance
    report.totals = dict(totals)

    by_platform = _sum_by(
        session, Posting.platform_account_id, Posting.amount, Posting.platform_account_id.is_not(None)
    )
    for account in session.scalars(select(PlatformAccount)):
        expected = by_platform.get(account.id, ZERO)
        if account.balance != expected:
            report.platform_drift.append((account.code, account.currency, account.balance, expected))

    mismatch = session.scalars(
        select(Posting.id)
        .join(Wallet, Wallet.id == Posting.wallet_id)
        .where(Wallet.currency != Posting.currency)
        .union(
            select(Posting.id)
            .join(PlatformAccount, PlatformAccount.id == Posting.platform_account_id)
            .where(PlatformAccount.currency != Posting.currency)
        )
    ).all()
    report.currency_mismatch = list(mismatch)
    if db.engine.dialect.name == "postgresql":
        report.open_closed_holds = list(
            session.scalars(select(Hold.id).where(Hold.status != "active", Hold.remaining != 0))
        )
    else:
        closed = session.execute(select(Hold.id, Hold.remaining).where(Hold.status != "active"))
        report.open_closed_holds = [hold_id for hold_id, remaining in closed if remaining != 0]
    return report


def reconcile() -> LedgerReport:
    """Run :func:`check`; on drift, audit it and (after commit) alert staff consoles and e-mail admins and finance."""
    report = check()
    if report.ok:
        return report
    problems = report.problems()[:50]
    with unit_of_work() as uow:
        audit.record(None, "ledger.drift_detected", after={"problems": problems}, ip="")
        uow.emit_to_staff("ledger_alert", {"problems": len(report.problems()), "first": problems[:5]})
        for admin in db.session.scalars(select(User).where(User.role.in_(("admin", "finance")), User.is_active_flag)):
            uow.mail(admin.email, "Ledger reconciliation found drift", "ledger_alert", problems=problems)
    return report


# -- many operations at once: a fan-out's ledger ----------------------------------------------------


@dataclass(eq=False)
class DraftHold:
    """A hold :class:`LedgerBatch` places; inserted (and given its id) by :meth:`LedgerBatch.flush`."""

    wallet: Wallet
    reason: str
    reference: str
    amount: Decimal
    remaining: Decimal
    posted_total: Decimal = ZERO
    status: str = "active"
    created_at: object = None
    closed_at: object = None
    id: int | None = None

    @property
    def wallet_id(self) -> int:
        return self.wallet.id


@dataclass(eq=False)
class DraftEntry:
    """A journal entry :class:`LedgerBatch` posts; inserted (and given its id) by :meth:`LedgerBatch.flush`."""

    kind: str
    memo: str
    reference: str
    postings: list[dict]
    id: int | None = None


class LedgerBatch:
    """Holds and hold-settling entries for many wallets in one transaction, written set-based.

    Each call checks what its one-row counterpart checks (:func:`place_hold`, :func:`release_hold`,
    :func:`grow_hold`, :func:`settle_hold`: available balance, an active hold, balanced legs, no
    negative balance), in call order, against the balances as the earlier calls left them; nothing
    is written until :meth:`flush`, which inserts the new holds and the entries (one statement
    each), their postings (one executemany) and updates the wallets and changed holds (one
    executemany each). The wallets must be locked already (:func:`lock_wallets`, or selected
    ``FOR NO KEY UPDATE`` and :func:`mark_locked`), and existing holds too (:func:`lock_holds`):
    a fan-out takes its locks in a few statements, then books thousands of operations.
    Platform accounts are credited at commit, as :func:`post` does.
    """

    def __init__(self, wallets: Iterable[Wallet]):
        wallets = list(wallets)
        self._wallets = {w.id: w for w in wallets}
        self._balances = {i: list(v) for i, v in _wallet_rows(self._wallets).items()}
        self._touched: set[int] = set()
        self._holds: list[DraftHold] = []
        self._hold_state: dict[int, list] = {}
        self._entries: list[DraftEntry] = []
        self._platform: dict[int, Decimal] = defaultdict(lambda: ZERO)
        self.now = utcnow()

    # holds, existing (locked Hold rows) or placed here (DraftHold)

    def _state(self, hold: Hold) -> list:
        """``[amount, remaining, posted_total, status, closed_at]`` of an existing hold as this batch left it."""
        if hold.id not in self._hold_state:
            if hold.id not in _held("holds"):
                raise LedgerError(f"hold {hold.id} is not locked")
            self._hold_state[hold.id] = [hold.amount, hold.remaining, hold.posted_total, hold.status, hold.closed_at]
        return self._hold_state[hold.id]

    def _get(self, hold: Hold | DraftHold) -> tuple[Decimal, Decimal, Decimal, str]:
        if isinstance(hold, DraftHold):
            return hold.amount, hold.remaining, hold.posted_total, hold.status
        amount, remaining, posted, status, _closed = self._state(hold)
        return amount, remaining, posted, status

    def _set(self, hold: Hold | DraftHold, amount: Decimal, remaining: Decimal, posted: Decimal) -> None:
        status, closed_at = "active", None
        if remaining == 0:
            status, closed_at = ("posted" if posted > 0 else "released"), self.now
        if isinstance(hold, DraftHold):
            hold.amount, hold.remaining, hold.posted_total = amount, remaining, posted
            hold.status, hold.closed_at = status, closed_at
        else:
            self._hold_state[hold.id] = [amount, remaining, posted, status, closed_at]

    def _balance(self, wallet_id: int) -> list:
        if wallet_id not in self._balances:
            raise LedgerError(f"wallet {wallet_id} is not part of this batch")
        self._touched.add(wallet_id)
        return self._balances[wallet_id]

    def available(self, wallet: Wallet) -> Decimal:
        balance, locked = self._balances[wallet.id]
        return balance - locked

    def place_hold(self, wallet: Wallet, amount: Decimal, reason: str, reference: str = "") -> DraftHold:
        """As :func:`place_hold`. :raise InsufficientFunds: the available balance is lower than ``amount``"""
        _check_amount(amount, wallet.currency)
        if amount <= 0:
            raise LedgerError("hold amount must be positive")
        state = self._balance(wallet.id)
        if state[0] - state[1] < amount:
            raise InsufficientFunds(
                f"Insufficient available {wallet.currency} balance.",
                {"amount": [f"Insufficient available {wallet.currency} balance."]},
            )
        state[1] += amount
        hold = DraftHold(wallet, reason, reference[:100], amount, amount, created_at=self.now)
        self._holds.append(hold)
        return hold

    def release_hold(self, hold: Hold | DraftHold, amount: Decimal | None = None) -> None:
        """As :func:`release_hold`: give back ``amount`` (default: all that remains)."""
        held, remaining, posted, status = self._get(hold)
        if status != "active":
            raise IllegalTransition(f"Hold {hold.id} is {status}.")
        amount = remaining if amount is None else amount
        _check_amount(amount, hold.wallet.currency)
        if amount <= 0 or amount > remaining:
            raise LedgerError(f"cannot release {amount} of hold {hold.id} (remaining {remaining})")
        self._balance(hold.wallet_id)[1] -= amount
        self._set(hold, held, remaining - amount, posted)

    def grow_hold(self, hold: Hold | DraftHold, amount: Decimal) -> None:
        """As :func:`grow_hold`. :raise InsufficientFunds: the available balance is lower than ``amount``"""
        held, remaining, posted, status = self._get(hold)
        if status != "active":
            raise IllegalTransition(f"Hold {hold.id} is {status}.")
        _check_amount(amount, hold.wallet.currency)
        if amount <= 0:
            raise LedgerError("hold amount must be positive")
        state = self._balance(hold.wallet_id)
        if state[0] - state[1] < amount:
            raise InsufficientFunds(
                f"Insufficient available {hold.wallet.currency} balance.",
                {"amount": [f"Insufficient available {hold.wallet.currency} balance."]},
            )
        state[1] += amount
        self._set(hold, held + amount, remaining + amount, posted)

    def settle_hold(
        self,
        hold: Hold | DraftHold,
        amount: Decimal,
        counter_legs: Sequence[Leg],
        *,
        kind: str,
        memo: str = "",
        reference: str = "",
    ) -> DraftEntry:
        """As :func:`settle_hold`: spend ``amount`` of the hold, the wallet debited and ``counter_legs`` credited."""
        held, remaining, posted, status = self._get(hold)
        if status != "active":
            raise IllegalTransition(f"Hold {hold.id} is {status}.")
        if amount <= 0 or amount > remaining:
            raise LedgerError(f"cannot settle {amount} of hold {hold.id} (remaining {remaining})")
        entry = self.post(
            kind,
            [Leg(hold.wallet, -amount), *counter_legs],
            memo=memo,
            reference=reference or hold.reference,
            hold_debits={hold.wallet_id: amount},
        )
        self._set(hold, held, remaining - amount, posted + amount)
        return entry

    def post(
        self,
        kind: str,
        legs: Sequence[Leg],
        *,
        memo: str = "",
        reference: str = "",
        hold_debits: dict[int, Decimal] | None = None,
    ) -> DraftEntry:
        """As :func:`post` (no actor, no reversal). :raise InsufficientFunds: a wallet would go below what is held"""
        if len(legs) < 2:
            raise LedgerError("an entry needs at least two legs")
        totals: dict[str, Decimal] = defaultdict(lambda: ZERO)
        for leg in legs:
            if leg.amount == 0:
                raise LedgerError("zero-amount leg")
            _check_amount(leg.amount, leg.account.currency)
            totals[leg.account.currency] += leg.amount
        unbalanced = {cur: total for cur, total in totals.items() if total != 0}
        if unbalanced:
            raise LedgerError(f"entry does not balance: {unbalanced}")
        debits = dict(hold_debits or {})
        postings = []
        for leg in legs:
            account = leg.account
            if isinstance(account, Wallet):
                state = self._balance(account.id)
                new_balance = state[0] + leg.amount
                new_locked = state[1] - debits.pop(account.id, ZERO)
                if new_balance < 0 or new_locked < 0 or new_balance < new_locked:
                    raise InsufficientFunds(
                        f"Insufficient available {account.currency} balance.",
                        {"amount": [f"Insufficient available {account.currency} balance."]},
                    )
                state[0], state[1] = new_balance, new_locked
                postings.append({"wallet_id": account.id, "platform_account_id": None})
            else:
                self._platform[account.id] += leg.amount
                postings.append({"wallet_id": None, "platform_account_id": account.id})
            postings[-1].update(currency=account.currency, amount=leg.amount)
        entry = DraftEntry(kind, memo[:255], reference[:100], postings)
        self._entries.append(entry)
        return entry

    def flush(self) -> None:
        """Write everything booked so far: new holds and entries get their ids."""
        session = db.session()
        session.flush()
        if self._holds:
            rows = [
                {
                    "wallet_id": h.wallet.id,
                    "reason": h.reason,
                    "reference": h.reference,
                    "amount": h.amount,
                    "remaining": h.remaining,
                    "posted_total": h.posted_total,
                    "status": h.status,
                    "created_at": h.created_at,
                    "closed_at": h.closed_at,
                }
                for h in self._holds
            ]
            for hold, ident in zip(self._holds, insert_rows(Hold.__table__, rows), strict=True):
                hold.id = ident
            _held("holds").update(h.id for h in self._holds)
        if self._entries:
            rows = [
                {"kind": e.kind, "memo": e.memo, "reference": e.reference, "created_at": self.now}
                for e in self._entries
            ]
            postings = []
            for entry, ident in zip(self._entries, insert_rows(JournalEntry.__table__, rows), strict=True):
                entry.id = ident
                for posting in entry.postings:
                    posting["entry_id"] = ident
                    postings.append(posting)
            session.execute(_INSERT_POSTINGS, postings)
        if self._touched:
            values = {
                i: {"balance": self._balances[i][0], "locked_balance": self._balances[i][1], "updated_at": self.now}
                for i in sorted(self._touched)
            }
            session.execute(_UPDATE_WALLETS, [{"w_id": i, **v} for i, v in values.items()])
            for wallet_id, value in values.items():
                _sync_loaded(Wallet, wallet_id, value)
        if self._hold_state:
            keys = ("amount", "remaining", "posted_total", "status", "closed_at")
            values = {i: dict(zip(keys, state, strict=True)) for i, state in sorted(self._hold_state.items())}
            session.execute(_UPDATE_HOLDS, [{"h_id": i, **v} for i, v in values.items()])
            for hold_id, value in values.items():
                _sync_loaded(Hold, hold_id, value)
        if self._platform:
            pending = session.info.setdefault(_PLATFORM_DELTAS, defaultdict(lambda: ZERO))
            for account_id, delta in self._platform.items():
                pending[account_id] += delta
        self._holds, self._entries, self._platform = [], [], defaultdict(lambda: ZERO)
        self._touched, self._hold_state = set(), {}


_UPDATE_HOLDS = Hold.__table__.update().where(Hold.__table__.c.id == bindparam("h_id"))
