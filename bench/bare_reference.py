"""The bare reference: the least a Flask + psycopg app can do for a transfer and a market buy.

Served by ``bench/reference_bench.py`` with gunicorn, one worker per core, on the same scratch
database (tradeapp's own schema, migrated) and Redis as the app it is compared with:

    gunicorn -w $(nproc) --threads 4 -k gthread bench.bare_reference:app

``POST /api/v1/transfers/`` (``{"to_username", "currency", "amount"}``, Bearer access JWT): JWT
check, recipient lookup, both wallets locked in id order, balance check, wallet updates, one
journal entry with two postings, two history rows, one commit, one Redis publish per side.

``POST /api/v1/orders/`` (``{"symbol", "side": "buy", "order_type": "market", "quantity"}``):
JWT check, the quote from Redis (fresh, as published by the feed), the pair (cached per
process), the user's two wallets locked, balance check, the order and trade rows, the balance
moves as one entry (user quote and base wallets, the platform's trading accounts and its fee
account: five postings, as tradeapp books a fill with a fee), a history row, one commit, one
publish.

No ORM, no schemas, no rate limiter, no session: what is left is the SQL and the JSON. Every
row it writes is valid for ``flask ledger check``, so the bench can check both apps' books.
"""

import json
import os
import secrets
import threading
import time
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal

import jwt
import psycopg
import redis
from flask import Flask, request

SECRET = os.environ.get("JWT_SECRET_KEY") or os.environ["SECRET_KEY"]
DATABASE_URL = os.environ["DATABASE_URL"].replace("postgresql+psycopg://", "postgresql://")
CHANNEL = os.environ.get("SOCKETIO_CHANNEL", "flask-socketio")
STALE_SECONDS = float(os.environ.get("FEED_STALE_SECONDS", "15"))
CENT = Decimal("0.01")

app = Flask(__name__)
_local = threading.local()
_redis = redis.Redis.from_url(os.environ["REDIS_URL"])
_pairs: dict[str, dict] = {}
_platform: dict[tuple[str, str], int] = {}


def conn() -> psycopg.Connection:
    """This thread's connection (gunicorn gthread: one per thread, opened once)."""
    c = getattr(_local, "conn", None)
    if c is None or c.closed:
        c = _local.conn = psycopg.connect(DATABASE_URL, autocommit=True)
    return c


def error(status: int, message: str):
    return app.response_class(json.dumps({"message": message}), status=status, mimetype="application/json")


def user_id() -> int | None:
    header = request.headers.get("Authorization", "")
    if not header.startswith("Bearer "):
        return None
    try:
        claims = jwt.decode(header[7:], SECRET, algorithms=["HS256"])
    except jwt.PyJWTError:
        return None
    return int(claims["sub"]) if claims.get("type") == "access" else None


def publish(room: str, event: str, data: dict) -> None:
    """One Socket.IO emit through the message queue, as python-socketio's RedisManager sends it."""
    message = {
        "method": "emit",
        "event": event,
        "data": data,
        "namespace": "/",
        "room": room,
        "skip_sid": None,
        "callback": None,
        "host_id": "bare-reference",
    }
    _redis.publish(CHANNEL, json.dumps(message))


@app.get("/healthz")
def healthz():
    return {"ok": True}


@app.post("/api/v1/transfers/")
def transfer():
    sender = user_id()
    if sender is None:
        return error(401, "Missing or invalid token.")
    body = request.get_json(silent=True) or {}
    currency = str(body.get("currency", "")).upper()
    try:
        amount = Decimal(str(body.get("amount"))).quantize(CENT)
    except ArithmeticError:
        return error(422, "Invalid amount.")
    if amount <= 0:
        return error(422, "Invalid amount.")
    now = datetime.now(UTC)
    reference = f"TRF-{secrets.token_hex(8).upper()}"
    c = conn()
    with c.transaction():
        row = c.execute(
            "SELECT id FROM users WHERE lower(username) = %s AND is_active", (str(body.get("to_username", "")).lower(),)
        ).fetchone()
        if row is None or row[0] == sender:
            return error(422, "No such recipient.")
        recipient = row[0]
        wallets = {
            uid: (wid, balance, locked)
            for wid, uid, balance, locked in c.execute(
                "SELECT id, user_id, balance, locked_balance FROM wallets WHERE user_id = ANY(%s) AND currency = %s "
                "ORDER BY id FOR UPDATE",
                ([sender, recipient], currency),
            )
        }
        if len(wallets) != 2:
            return error(422, "No such wallet.")
        source, target = wallets[sender], wallets[recipient]
        if source[1] - source[2] < amount:
            return error(409, "Insufficient funds.")
        cur = c.cursor()
        cur.executemany(
            "UPDATE wallets SET balance = balance + %s, updated_at = %s WHERE id = %s",
            [(-amount, now, source[0]), (amount, now, target[0])],
        )
        (entry,) = c.execute(
            "INSERT INTO journal_entries (kind, memo, reference, created_by_id, created_at) "
            "VALUES ('transfer', %s, %s, %s, %s) RETURNING id",
            (f"Transfer {sender} → {recipient}", f"transfer:{reference}", sender, now),
        ).fetchone()
        cur.executemany(
            "INSERT INTO postings (entry_id, wallet_id, currency, amount) VALUES (%s, %s, %s, %s)",
            [(entry, source[0], currency, -amount), (entry, target[0], currency, amount)],
        )
        cur.executemany(
            "INSERT INTO transactions (user_id, transaction_type, currency, amount, fee, status, reference_id, "
            "external_id, notes, counterparty_id, direction, entry_id, created_at, completed_at) "
            "VALUES (%s, 'transfer', %s, %s, 0, 'completed', %s, '', %s, %s, %s, %s, %s, %s)",
            [
                (sender, currency, amount, f"{reference}-OUT", body.get("note", ""), recipient, -1, entry, now, now),
                (recipient, currency, amount, f"{reference}-IN", body.get("note", ""), sender, 1, entry, now, now),
            ],
        )
    text = str(amount)
    publish(f"user:{sender}", "transaction", {"reference_id": f"{reference}-OUT", "amount": text, "direction": -1})
    publish(f"user:{recipient}", "transaction", {"reference_id": f"{reference}-IN", "amount": text, "direction": 1})
    answer = {"reference_id": f"{reference}-OUT", "currency": currency, "amount": text, "status": "completed"}
    return app.response_class(json.dumps(answer), status=201, mimetype="application/json")


def pair(c: psycopg.Connection, symbol: str) -> dict | None:
    if symbol not in _pairs:
        row = c.execute(
            "SELECT id, symbol, base_currency, quote_currency, taker_fee FROM trading_pairs "
            "WHERE replace(symbol, '/', '-') = %s AND is_active",
            (symbol.replace("/", "-").upper(),),
        ).fetchone()
        if row is None:
            return None
        _pairs[symbol] = dict(zip(("id", "symbol", "base", "quote", "taker_fee"), row, strict=True))
    return _pairs[symbol]


def platform_account(c: psycopg.Connection, code: str, currency: str) -> int:
    if (code, currency) not in _platform:
        (_platform[code, currency],) = c.execute(
            "SELECT id FROM platform_accounts WHERE code = %s AND currency = %s", (code, currency)
        ).fetchone()
    return _platform[code, currency]


@app.post("/api/v1/orders/")
def market_buy():
    uid = user_id()
    if uid is None:
        return error(401, "Missing or invalid token.")
    body = request.get_json(silent=True) or {}
    if body.get("side") != "buy" or body.get("order_type") != "market":
        return error(422, "The reference only places market buys.")
    c = conn()
    p = pair(c, str(body.get("symbol", "")))
    if p is None:
        return error(422, "Unknown pair.")
    raw = _redis.get(f"quote:{p['symbol']}")
    quote = json.loads(raw) if raw else None
    if not quote or not quote.get("ask") or time.time() - float(quote.get("received_at") or 0) > STALE_SECONDS:
        return error(503, "No fresh price.")
    quantity = Decimal(str(body.get("quantity")))
    price = Decimal(str(quote["ask"]))
    notional = (quantity * price).quantize(CENT, ROUND_HALF_UP)
    fee = (notional * p["taker_fee"]).quantize(CENT, ROUND_HALF_UP)
    trading_quote = platform_account(c, "trading", p["quote"])
    trading_base = platform_account(c, "trading", p["base"])
    fees = platform_account(c, "fees", p["quote"])
    now = datetime.now(UTC)
    with c.transaction():
        wallets = {
            currency: (wid, balance, locked)
            for wid, currency, balance, locked in c.execute(
                "SELECT id, currency, balance, locked_balance FROM wallets WHERE user_id = %s AND currency = ANY(%s) "
                "ORDER BY id FOR UPDATE",
                (uid, [p["quote"], p["base"]]),
            )
        }
        quote_wallet, base_wallet = wallets[p["quote"]], wallets[p["base"]]
        if quote_wallet[1] - quote_wallet[2] < notional + fee:
            return error(409, "Insufficient funds.")
        (order,) = c.execute(
            "INSERT INTO orders (user_id, pair_id, order_type, side, quantity, filled_quantity, average_price, "
            "status, fee, source, status_reason, created_at, updated_at, executed_at) "
            "VALUES (%s, %s, 'market', 'buy', %s, %s, %s, 'filled', %s, 'manual', '', %s, %s, %s) RETURNING id",
            (uid, p["id"], quantity, quantity, price, fee, now, now, now),
        ).fetchone()
        (entry,) = c.execute(
            "INSERT INTO journal_entries (kind, memo, reference, created_by_id, created_at) "
            "VALUES ('trade', %s, %s, NULL, %s) RETURNING id",
            (f"Buy {quantity} {p['symbol']} @ {price} (order {order})", f"order:{order}", now),
        ).fetchone()
        cur = c.cursor()
        cur.executemany(
            "INSERT INTO postings (entry_id, wallet_id, platform_account_id, currency, amount) "
            "VALUES (%s, %s, %s, %s, %s)",
            [
                (entry, quote_wallet[0], None, p["quote"], -(notional + fee)),
                (entry, base_wallet[0], None, p["base"], quantity),
                (entry, None, trading_base, p["base"], -quantity),
                (entry, None, trading_quote, p["quote"], notional),
                (entry, None, fees, p["quote"], fee),
            ],
        )
        cur.executemany(
            "UPDATE wallets SET balance = balance + %s, updated_at = %s WHERE id = %s",
            [(-(notional + fee), now, quote_wallet[0]), (quantity, now, base_wallet[0])],
        )
        cur.executemany(
            "UPDATE platform_accounts SET balance = balance + %s WHERE id = %s",
            [(-quantity, trading_base), (notional, trading_quote), (fee, fees)],
        )
        (trade,) = c.execute(
            "INSERT INTO trades (order_id, user_id, pair_id, side, quantity, price, notional, fee, liquidity, "
            "entry_id, external_trade_id, executed_at) "
            "VALUES (%s, %s, %s, 'buy', %s, %s, %s, %s, 'taker', %s, '', %s) RETURNING id",
            (order, uid, p["id"], quantity, price, notional, fee, entry, now),
        ).fetchone()
        c.execute(
            "INSERT INTO transactions (user_id, transaction_type, currency, amount, fee, status, reference_id, "
            "external_id, notes, direction, entry_id, created_at, completed_at) "
            "VALUES (%s, 'trade', %s, %s, %s, 'completed', %s, '', '', -1, %s, %s, %s)",
            (uid, p["quote"], notional, fee, f"TRD-{trade}", entry, now, now),
        )
    answer = {
        "id": order,
        "symbol": p["symbol"],
        "side": "buy",
        "order_type": "market",
        "status": "filled",
        "quantity": str(quantity),
        "filled_quantity": str(quantity),
        "average_price": str(price),
        "fee": str(fee),
    }
    publish(f"user:{uid}", "order", answer)
    return app.response_class(json.dumps(answer), status=201, mimetype="application/json")
