"""Chaos: 64 clients move money while the worker, the orders worker and the feed are SIGKILLed.

64 concurrent API clients do transfers, market orders, limit orders and their cancels, and
withdrawals; a finance officer approves pending withdrawals as they come. Every 20-60 s one of
worker / orders / feed is SIGKILLed (with its children) and restarted 1-3 s later. After the
run (10 minutes by default, ``--seconds`` for a short one) the processes are brought back, the
recovery job gets time to drain what is left, and the bench asserts and reports:

- ``ledger check`` is clean (every entry balances, wallet balances and holds match postings);
- no wallet balance or available balance is negative;
- every 2xx answer has its row (transfer lines, orders, withdrawals; a 2xx cancel left the order cancelled);
- no withdrawal is stuck (approved/processing) and no order is stuck (a market order still live, or a
  resting order whose trigger the current quote has crossed);
- every active hold backs a live order or an open withdrawal, of the right amount, and each of those has one.

Its own PostgreSQL database, its own redis-server, only 127.0.0.1 and ports 6100-6199 (bench/_stack.py).
Exit status 1 when an invariant fails.
"""

import argparse
import json
import random
import sys
import threading
import time
from collections import Counter, defaultdict
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import requests  # noqa: E402

from bench._stack import RESULTS_DIR, Stack  # noqa: E402

D = Decimal
CLIENTS = 64
SYMBOL = "BTC-USD"
FUNDS = {"USD": "20000", "BTC": "2"}
BANK = {"iban": "GB82WEST12345698765432", "account_holder": "Chaos Customer"}
VICTIMS = ("worker", "orders", "feed")


class Log:
    """Thread-safe record of every answer: (action, status, body) plus counts."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.rows: list[tuple[str, int, dict]] = []
        self.counts: Counter = Counter()
        #: the error codes of 4xx/5xx answers, by action
        self.codes: Counter = Counter()

    def add(self, action: str, status: int, body: dict) -> None:
        with self.lock:
            self.rows.append((action, status, body))
            self.counts[(action, status // 100 * 100 if status else 0)] += 1
            if status >= 400 or not status:
                self.codes[f"{action} {status} {body.get('code', '')}".strip()] += 1


def _call(session: requests.Session, method: str, url: str, log: Log, action: str, **kw) -> tuple[int, dict]:
    try:
        r = session.request(method, url, timeout=30, **kw)
        status = r.status_code
        try:
            body = r.json()
        except ValueError:
            body = {}
    except requests.RequestException:
        status, body = 0, {}
    log.add(action, status, body if isinstance(body, dict) else {})
    return status, body if isinstance(body, dict) else {}


def customer_loop(base: str, token: str, usernames: list[str], me: str, stop: threading.Event, log: Log, seed: int):
    rng = random.Random(seed)
    s = requests.Session()
    s.headers["Authorization"] = f"Bearer {token}"
    while not stop.is_set():
        roll = rng.random()
        if roll < 0.30:
            to = rng.choice([u for u in usernames if u != me])
            amount = f"{rng.randint(1, 500)}.{rng.randint(0, 99):02d}"
            _call(
                s,
                "POST",
                f"{base}/api/v1/transfers/",
                log,
                "transfer",
                json={"to_username": to, "currency": "USD", "amount": amount},
            )
        elif roll < 0.60:
            side = rng.choice(["buy", "sell"])
            _call(
                s,
                "POST",
                f"{base}/api/v1/orders/",
                log,
                "market_order",
                json={"symbol": SYMBOL, "order_type": "market", "side": side, "quantity": "0.001"},
            )
        elif roll < 0.95:
            status, body = _call(s, "GET", f"{base}/api/v1/market-data/{SYMBOL}/", log, "quote")
            last = (
                D(str(body.get("bid") or body.get("last_price") or body.get("price") or "0")) if status == 200 else D(0)
            )
            if last <= 0:
                continue
            side = rng.choice(["buy", "sell"])
            # a little off the market: some rest, some cross on a later tick
            factor = D(1) + D(rng.choice([-3, -2, -1, 1, 2, 3])) / D(1000)
            price = (last * factor).quantize(D("0.01"))
            status, body = _call(
                s,
                "POST",
                f"{base}/api/v1/orders/",
                log,
                "limit_order",
                json={"symbol": SYMBOL, "order_type": "limit", "side": side, "quantity": "0.001", "price": str(price)},
            )
            if status in (200, 201) and body.get("id") and rng.random() < 0.6:
                time.sleep(rng.uniform(0, 1.5))
                _call(s, "POST", f"{base}/api/v1/orders/{body['id']}/cancel/", log, "cancel")
        else:
            amount = f"{rng.randint(5, 80)}.00"
            _call(
                s,
                "POST",
                f"{base}/api/v1/withdrawals/",
                log,
                "withdrawal",
                json={
                    "currency": "USD",
                    "amount": amount,
                    "destination_type": "bank_account",
                    "destination_details": dict(BANK),
                },
            )
        time.sleep(rng.uniform(0.05, 0.3))


def staff_loop(base: str, token: str, stop: threading.Event, log: Log):
    s = requests.Session()
    s.headers["Authorization"] = f"Bearer {token}"
    while not stop.is_set():
        status, body = _call(s, "GET", f"{base}/api/v1/withdrawals/pending/?page_size=200", log, "staff_list")
        for row in body.get("results", []) if status == 200 else []:
            _call(s, "POST", f"{base}/api/v1/withdrawals/{row['id']}/approve/", log, "approve")
        stop.wait(0.5)


def chaos_loop(stack: Stack, stop: threading.Event, events: list, low: float, high: float, seed: int):
    rng = random.Random(seed)
    while not stop.wait(rng.uniform(low, high)):
        victim = rng.choice(VICTIMS)
        stack.kill(victim)
        events.append((round(time.monotonic(), 1), victim))
        stop.wait(rng.uniform(1, 3))
        stack.start(victim)


# -- setup and checks, in this process on the stack's database ------------------------------------


def setup(app, count: int):
    from sqlalchemy import select

    from tradeapp.extensions import db
    from tradeapp.models import User
    from tradeapp.models.types import utcnow
    from tradeapp.services import ledger, passwords
    from tradeapp.services.ledger import Leg
    from tradeapp.services.tokens import issue_tokens
    from tradeapp.services.users import _new_referral_code

    with app.app_context():
        password_hash = passwords.hash_password("Chaos-password-123")
        customers = []
        for i in range(count):
            user = User(
                email=f"chaos{i}@example.com",
                username=f"chaos{i}",
                password_hash=password_hash,
                referral_code=_new_referral_code(),
                email_verified_at=utcnow(),
                kyc_status="approved",
                is_verified=True,
            )
            db.session.add(user)
            db.session.flush()
            for currency, amount in FUNDS.items():
                wallet = ledger.wallet_for(user, currency)
                ledger.post(
                    "adjustment",
                    [Leg(wallet, D(amount)), Leg(ledger.platform_account("adjustments", currency), -D(amount))],
                )
            db.session.commit()
            customers.append((user.username, issue_tokens(user)["access"]))
        staff = User(
            email="chaos-finance@example.com",
            username="chaos-finance",
            password_hash=password_hash,
            referral_code=_new_referral_code(),
            email_verified_at=utcnow(),
            role="finance",
            totp_secret="JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP",
            totp_confirmed_at=utcnow(),
        )
        db.session.add(staff)
        db.session.commit()
        staff_token = issue_tokens(db.session.scalar(select(User).where(User.role == "finance")))["access"]
    return customers, staff_token


def wait_for_quote(base: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            r = requests.get(f"{base}/api/v1/market-data/{SYMBOL}/", timeout=5)
            if r.status_code == 200 and r.json().get("bid"):
                return
        except requests.RequestException:
            pass
        time.sleep(0.5)
    raise RuntimeError("the feed published no quote (see bench/results/chaos-logs/feed.log)")


def open_work(app) -> dict:
    from sqlalchemy import func, select

    from tradeapp.extensions import db
    from tradeapp.models import Withdrawal
    from tradeapp.models.trading import LIVE_STATUSES, Order

    with app.app_context():
        counts = dict(db.session.execute(select(Withdrawal.status, func.count()).group_by(Withdrawal.status)).all())
        live_market = db.session.scalar(
            select(func.count()).select_from(Order).where(Order.order_type == "market", Order.status.in_(LIVE_STATUSES))
        )
        db.session.rollback()
    return {"withdrawals": counts, "live_market_orders": live_market}


def check(app, log: Log) -> tuple[dict, list[str]]:
    """Every invariant; returns (figures, failures)."""
    from sqlalchemy import func, select

    from tradeapp.extensions import db
    from tradeapp.models import Hold, Transaction, Wallet, Withdrawal
    from tradeapp.models.trading import LIVE_STATUSES, Order, TradingPair
    from tradeapp.services import ledger
    from tradeapp.services.trading import prices
    from tradeapp.services.trading.execution import crossed_order_ids

    failures: list[str] = []
    figures: dict = {}
    with app.app_context():
        report = ledger.check()
        figures["ledger"] = {
            "entries": report.entries,
            "postings": report.postings,
            "wallets": report.wallets,
            "ok": report.ok,
        }
        if not report.ok:
            failures.append(f"ledger check: {report}")

        negative = db.session.scalars(
            select(Wallet).where(
                (Wallet.balance < 0) | (Wallet.balance - Wallet.locked_balance < 0) | (Wallet.locked_balance < 0)
            )
        ).all()
        figures["negative_wallets"] = len(negative)
        if negative:
            failures.append(f"negative wallets: {[(w.id, w.currency, w.balance, w.locked_balance) for w in negative]}")

        # every 2xx has its row
        refs = set(db.session.scalars(select(Transaction.reference_id)))
        order_status = dict(db.session.execute(select(Order.id, Order.status)).all())
        withdrawal_ids = set(db.session.scalars(select(Withdrawal.id)))
        missing = Counter()
        ok_counts = Counter()
        for action, status, body in log.rows:
            if not 200 <= status < 300:
                continue
            ok_counts[action] += 1
            if (
                action == "transfer"
                and body.get("reference_id") not in refs
                or action in ("market_order", "limit_order")
                and body.get("id") not in order_status
                or action == "withdrawal"
                and body.get("id") not in withdrawal_ids
                or action == "cancel"
                and order_status.get(body.get("id")) != "cancelled"
            ):
                missing[action] += 1
        figures["2xx"] = dict(ok_counts)
        figures["2xx_without_row"] = dict(missing)
        if missing:
            failures.append(f"2xx answers without their row: {dict(missing)}")

        # nothing stuck
        stuck_w = db.session.scalars(
            select(Withdrawal).where(Withdrawal.status.in_(("pending", "approved", "processing")))
        ).all()
        figures["withdrawals_by_status"] = dict(
            db.session.execute(select(Withdrawal.status, func.count()).group_by(Withdrawal.status)).all()
        )
        if stuck_w:
            failures.append(f"withdrawals stuck: {[(w.id, w.status, w.payout_attempts) for w in stuck_w]}")
        live_market = db.session.scalars(
            select(Order.id).where(Order.order_type == "market", Order.status.in_(LIVE_STATUSES))
        ).all()
        crossed = []
        for pair in db.session.scalars(select(TradingPair).where(TradingPair.is_active)):
            try:
                quote = prices.live_quote(pair)
            except Exception:  # noqa: BLE001, S112 - a pair without a fresh quote cannot be crossed now
                continue
            crossed += crossed_order_ids(pair.id, quote["bid"], quote["ask"])
        figures["orders_by_status"] = dict(
            db.session.execute(select(Order.status, func.count()).group_by(Order.status)).all()
        )
        figures["stuck_orders"] = {"live_market": len(live_market), "crossed_resting": len(crossed)}
        if live_market or crossed:
            failures.append(f"orders stuck: live market {live_market[:20]}, crossed resting {crossed[:20]}")

        # every hold matches what it backs
        active = {h.id: h for h in db.session.scalars(select(Hold).where(Hold.status == "active"))}
        backed: set[int] = set()
        problems = []
        for order in db.session.scalars(select(Order).where(Order.status.in_(LIVE_STATUSES))):
            if order.hold_id is None or order.hold_id not in active:
                problems.append(f"live order {order.id} without an active hold")
            else:
                backed.add(order.hold_id)
        for w in db.session.scalars(
            select(Withdrawal).where(Withdrawal.status.in_(("pending", "approved", "processing")))
        ):
            hold = active.get(w.hold_id)
            if hold is None:
                problems.append(f"open withdrawal {w.id} without an active hold")
            else:
                backed.add(hold.id)
                if hold.remaining != w.amount + w.fee:
                    problems.append(f"withdrawal {w.id} holds {hold.remaining}, backs {w.amount + w.fee}")
        orphans = sorted(set(active) - backed)
        if orphans:
            problems.append(f"active holds backing nothing: {orphans[:20]}")
        figures["holds"] = {"active": len(active), "problems": len(problems)}
        if problems:
            failures.append("holds: " + "; ".join(problems[:20]))
        db.session.rollback()
    return figures, failures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=600, help="how long the clients run (default 600)")
    parser.add_argument("--clients", type=int, default=CLIENTS)
    parser.add_argument("--kill-every", default="20-60", help="seconds between kills, low-high (default 20-60)")
    parser.add_argument("--drain", type=float, default=600, help="at most this long for queued work to clear")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards (to look into a failure)")
    args = parser.parse_args()
    low, high = (float(x) for x in args.kill_every.split("-"))

    env = {"WORK_STUCK_MINUTES": "1", "FEED_INTERVAL": "1.0", "MARKET_FEED": "simulated"}
    with Stack("chaos", env=env, keep=args.keep) as stack:
        app = stack.app()
        customers, staff_token = setup(app, args.clients)
        usernames = [u for u, _ in customers]
        wait_for_quote(stack.url)
        print(
            f"chaos: {args.clients} clients for {args.seconds:.0f} s against {stack.url}, "
            f"kills every {low:.0f}-{high:.0f} s",
            flush=True,
        )
        log, stop, events = Log(), threading.Event(), []
        threads = [
            threading.Thread(target=customer_loop, args=(stack.url, token, usernames, name, stop, log, i), daemon=True)
            for i, (name, token) in enumerate(customers)
        ]
        threads.append(threading.Thread(target=staff_loop, args=(stack.url, staff_token, stop, log), daemon=True))
        chaos_stop = threading.Event()
        chaos = threading.Thread(target=chaos_loop, args=(stack, chaos_stop, events, low, high, args.seed), daemon=True)
        started = time.monotonic()
        for t in threads:
            t.start()
        chaos.start()
        stop.wait(args.seconds)
        chaos_stop.set()
        chaos.join()
        for name in ("worker", "orders", "feed"):
            if not stack.alive(name):
                stack.start(name)
        # the customers stop; the finance officer keeps approving while the recovery job drains
        customers_stop = stop
        customers_stop.set()
        for t in threads[:-1]:
            t.join(60)
        run_seconds = time.monotonic() - started
        drain_stop = threading.Event()
        staff = threading.Thread(target=staff_loop, args=(stack.url, staff_token, drain_stop, log), daemon=True)
        staff.start()
        drain_started = time.monotonic()
        while time.monotonic() - drain_started < args.drain:
            work = open_work(app)
            pending = sum(n for s, n in work["withdrawals"].items() if s in ("pending", "approved", "processing"))
            if not pending and not work["live_market_orders"]:
                break
            time.sleep(2)
        drained = time.monotonic() - drain_started
        drain_stop.set()
        staff.join(10)
        # Quiesce, so the checks see a still system: no new ticks, then the last tick's trigger
        # checks run out, then the orders worker stops.
        stack.stop("feed")
        time.sleep(5)
        stack.stop("orders")
        figures, failures = check(app, log)
        try:
            flask_check = stack.flask("ledger", "check")
        except RuntimeError as exc:
            flask_check = str(exc)
            failures.append(flask_check)

    by_action: dict[str, dict[str, int]] = defaultdict(dict)
    for (action, klass), n in sorted(log.counts.items()):
        by_action[action][f"{klass}" if klass else "no answer"] = n
    summary = {
        "seconds": round(run_seconds, 1),
        "clients": args.clients,
        "kills": stack.kills,
        "kill_events": len(events),
        "drain_seconds": round(drained, 1),
        "answers": dict(by_action),
        "error_codes": dict(log.codes.most_common()),
        **figures,
        "failures": failures,
    }
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    (RESULTS_DIR / "chaos.json").write_text(json.dumps(summary, indent=2, default=str))
    print(json.dumps(summary, indent=2, default=str))
    print("flask ledger check:", flask_check.strip().splitlines()[-1] if flask_check.strip() else "(no output)")
    print("chaos:", "PASS" if not failures else f"FAIL ({len(failures)} invariants broken)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
