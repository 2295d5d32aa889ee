"""Trading: order throughput over HTTP, trigger-check cost per tick, tick-to-fill latency.

Run: ``make bench-trading`` (or ``.venv/bin/python bench/trading_bench.py [--part a|b|c ...]``).
Needs PostgreSQL and Redis on localhost. Each part builds its own scratch database and drops it.

(a) market orders per second through ``POST /api/v1/orders/`` under gunicorn with 16 clients (each
    its own funded user; half buy, half sell), a simulated feed process publishing prices, p50/p99
    latency, and pgbench TPC-B with the same client count as the reference (target ratio ≥ 0.25).
(b) ``check_triggers`` time per tick with 10,000 and 1,000,000 open resting orders on the pair
    (bulk-inserted far from the price), each measured tick crossing a few real orders placed through
    the service; median and p95, ratio 1M / 10k (target ≤ 1.5) and the EXPLAIN of the trigger queries.
(c) tick-to-fill latency: a FeedRunner in this process publishes a tick (Redis) and enqueues the
    trigger check → ``rq worker`` (OrdersWorker, as in the Procfile) fills → Socket.IO emit through the Redis message queue
    → the realtime process → a python-socketio client here receives the ``order`` event (target p99 < 100 ms).

Figures are printed and written to ``bench/results/trading-<time>.json``.
"""

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import (  # noqa: E402
    REDIS_URL,
    ROOT,
    app_env,
    drop_database,
    flask,
    gunicorn,
    http_load,
    http_request,
    percentile,
    pg_url,
    pgbench_tps,
    postgres_cpu,
    realtime_process,
    recreate_database,
    summarize,
)
from tradeapp.market.base import MarketFeed, UnknownSymbol  # noqa: E402
from tradeapp.market.runner import FeedRunner  # noqa: E402

D = Decimal
SYMBOL = "BTC/USD"
RESULTS_DIR = ROOT / "bench" / "results"
#: Redis database for this bench (published quotes, RQ queue); the Socket.IO channel is server-wide
TRADING_REDIS_URL = os.environ.get("BENCH_TRADING_REDIS_URL", REDIS_URL.rsplit("/", 1)[0] + "/13")
BIN = Path(sys.executable).parent
#: the price the controllable feed oscillates around (parts b and c); background orders stay far away
HIGH = D("100000.00")
LOW = HIGH - 50


# -- shared plumbing -------------------------------------------------------------------------------


def bench_env(dbname: str, **overrides: str) -> dict:
    env = app_env(dbname)
    env.update(REDIS_URL=TRADING_REDIS_URL, MARKET_FEED="simulated", FEED_INTERVAL="1.0", **overrides)
    return env


def make_app(env: dict):
    """A tradeapp built in this process with ``env`` (the settings are read once, at creation)."""
    from tradeapp import create_app

    saved = dict(os.environ)
    os.environ.update(env)
    try:
        return create_app()
    finally:
        os.environ.clear()
        os.environ.update(saved)


@contextmanager
def background(name: str, argv: list[str], env: dict):
    """A long-running process (feed, rq worker), its output in bench/results/<name>.log."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    log = open(RESULTS_DIR / f"trading-{name}.log", "w")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def redis_conn():
    from redis import Redis

    return Redis.from_url(TRADING_REDIS_URL)


def reset_redis() -> None:
    """Forget published prices, feed statuses and queued jobs left by an earlier run."""
    conn = redis_conn()
    for pattern in ("quote:*", "book:*", "feedstatus:*"):
        keys = list(conn.scan_iter(pattern))
        if keys:
            conn.delete(*keys)
    from rq import Queue

    Queue("orders", connection=conn).empty()


def wait_for_quote(symbol: str, timeout: float = 30) -> None:
    conn = redis_conn()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        raw = conn.get(f"quote:{symbol}")
        if raw and time.time() - json.loads(raw)["received_at"] < 5:
            return
        time.sleep(0.2)
    raise RuntimeError(f"no fresh quote for {symbol} in Redis after {timeout:.0f} s (see trading-feed.log)")


def setup_pairs(only: str | None = None) -> int:
    """The demo pairs (real sizes and fees); with ``only``, every other pair is deactivated. Returns its id."""
    from sqlalchemy import select

    from tradeapp.extensions import db
    from tradeapp.models import TradingPair
    from tradeapp.services.seed import seed_pairs

    seed_pairs()
    db.session.flush()
    if only:
        for pair in db.session.scalars(select(TradingPair).where(TradingPair.symbol != only)):
            pair.is_active = False
    pair_id = db.session.scalar(select(TradingPair.id).where(TradingPair.symbol == (only or SYMBOL)))
    db.session.commit()
    return pair_id


def make_users(count: int, prefix: str, funds: dict[str, str]) -> list[tuple[int, str]]:
    """``count`` verified users with ``funds`` credited; returns (user id, API access token) each."""
    from tradeapp.extensions import db
    from tradeapp.models import User
    from tradeapp.models.types import utcnow
    from tradeapp.services import ledger, passwords
    from tradeapp.services.ledger import Leg
    from tradeapp.services.tokens import issue_tokens
    from tradeapp.services.users import _new_referral_code

    password_hash = passwords.hash_password("Bench-password-123")
    made = []
    for i in range(count):
        user = User(
            email=f"{prefix}{i}@example.com",
            username=f"{prefix}{i}",
            password_hash=password_hash,
            referral_code=_new_referral_code(),
            email_verified_at=utcnow(),
        )
        db.session.add(user)
        db.session.flush()
        for currency, amount in funds.items():
            wallet = ledger.wallet_for(user, currency)
            adjustments = ledger.platform_account("adjustments", currency)
            ledger.post("adjustment", [Leg(wallet, D(amount)), Leg(adjustments, -D(amount))])
        db.session.commit()
        made.append((user.id, issue_tokens(user)["access"]))
    return made


def status_counts(app) -> dict[str, int]:
    from sqlalchemy import func, select

    from tradeapp.extensions import db
    from tradeapp.models import Order

    with app.app_context():
        rows = db.session.execute(select(Order.status, func.count()).group_by(Order.status)).all()
        db.session.rollback()
    return {status: count for status, count in rows}


class BenchFeed(MarketFeed):
    """A market this script sets: one pair, ``levels`` price levels of ``size`` either side, 1.00 apart."""

    name = "bench"

    def __init__(self, symbol: str = SYMBOL, levels: int = 10, size: str = "10") -> None:
        super().__init__()
        self.symbol, self.levels, self.size = symbol, levels, D(size)
        self.bid = self.ask = None

    def set_mid(self, mid: Decimal) -> None:
        self.bid, self.ask = mid - 5, mid + 5

    def ticker(self, symbol: str) -> dict:
        if symbol != self.symbol or self.bid is None:
            raise UnknownSymbol(symbol)
        return {
            "symbol": symbol,
            "last": self.bid,
            "bid": self.bid,
            "ask": self.ask,
            "change_24h": D(0),
            "high_24h": self.ask,
            "low_24h": self.bid,
            "volume": D(100),
            "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }

    def order_book(self, symbol: str, depth: int = 10) -> dict:
        if symbol != self.symbol or self.bid is None:
            raise UnknownSymbol(symbol)
        n = min(depth, self.levels)
        return {
            "symbol": symbol,
            "bids": [[self.bid - i, self.size] for i in range(n)],
            "asks": [[self.ask + i, self.size] for i in range(n)],
            "timestamp": None,
        }

    def candles(self, symbol, timeframe="1h", since=None, limit=100):
        return []


class TimedFeedRunner(FeedRunner):
    """The real FeedRunner, noting when it starts publishing a tick (the start of tick-to-fill)."""

    published_at = 0.0
    #: the same moment on the wall clock (to compare with RQ's job timestamps)
    published_wall = 0.0

    def _publish(self, symbol, quote, book, redis) -> None:
        self.published_at, self.published_wall = time.perf_counter(), time.time()
        super()._publish(symbol, quote, book, redis)


class Crosser:
    """Rests orders through the service, then moves the market so that the next tick crosses them.

    The market oscillates between HIGH and LOW (mid prices, 10.00 spread). At HIGH, limit buys rest at
    HIGH − 20 (the ask is HIGH + 5) and the move to LOW (ask LOW + 5 = HIGH − 45) fills them; at LOW,
    limit sells rest at LOW + 20 (the bid is LOW − 5) and the move back to HIGH (bid HIGH − 5) fills
    them. Users alternate buying and selling the same quantity, so their funds last.
    """

    def __init__(self, feed: BenchFeed, runner: FeedRunner, user_ids: list[int], quantity: str = "0.01"):
        self.feed, self.runner, self.user_ids, self.quantity = feed, runner, user_ids, quantity
        self.at_high = True
        feed.set_mid(HIGH)

    def publish(self) -> None:
        self.runner.tick_once()

    def place(self, count: int) -> list[int]:
        """``count`` resting limit orders (with holds) that the next :meth:`move` crosses."""
        from tradeapp.extensions import db
        from tradeapp.models import User
        from tradeapp.services.trading import orders

        side, price = ("buy", HIGH - 20) if self.at_high else ("sell", LOW + 20)
        ids = []
        for i in range(count):
            user = db.session.get(User, self.user_ids[i % len(self.user_ids)])
            data = {"symbol": SYMBOL, "side": side, "order_type": "limit", "quantity": self.quantity, "price": price}
            order = orders.place_order(user, data)
            if order.status != "open":
                raise RuntimeError(f"bench order {order.id} did not rest: {order.status} {order.status_reason}")
            ids.append(order.id)
        db.session.rollback()
        return ids

    def move(self) -> None:
        """Switch the feed to the other price and publish it (the tick that crosses the placed orders)."""
        self.at_high = not self.at_high
        self.feed.set_mid(HIGH if self.at_high else LOW)
        self.publish()


def stats(samples_ms: list[float]) -> dict:
    return {
        "n": len(samples_ms),
        "median_ms": percentile(samples_ms, 50),
        "p95_ms": percentile(samples_ms, 95),
        "p99_ms": percentile(samples_ms, 99),
        "max_ms": max(samples_ms) if samples_ms else float("nan"),
    }


def verdict(ok: bool) -> str:
    return "target met" if ok else "TARGET MISSED"


# -- (a) market orders through the HTTP API ----------------------------------------------------------


def order_request(base: str, token: str, side: str) -> bytes:
    """One client's request: a small market order. Half the clients buy and half sell the same size."""
    body = json.dumps({"symbol": "BTC-USD", "side": side, "order_type": "market", "quantity": "0.001"}).encode()
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    return http_request(base, "POST", "/api/v1/orders/", headers, body)


def part_api(args) -> dict:
    """Market orders per second through POST /api/v1/orders/ under gunicorn, against pgbench."""
    dbname = "tradeapp_bench_trading_api"
    recreate_database(dbname)
    env = bench_env(dbname)
    reset_redis()
    try:
        flask(env, "db", "upgrade")
        app = make_app(env)
        with app.app_context():
            setup_pairs()
            users = make_users(args.clients, "api", {"USD": "10000000", "BTC": "100"})
        feed_argv = [str(BIN / "flask"), "--app", "wsgi", "feed", "run"]
        with background("feed", feed_argv, env), gunicorn(env, args.workers, args.threads) as server:
            wait_for_quote(SYMBOL)
            requests = [
                order_request(server.url, token, "buy" if i % 2 == 0 else "sell") for i, (_, token) in enumerate(users)
            ]
            warm, warm_errors = http_load(server.url, requests, 2, expect_status=201)  # warm-up
            if not warm:
                raise RuntimeError(f"no order succeeded during the warm-up ({warm_errors} errors)")
            before = status_counts(app)
            cpu_before = server.cpu_seconds(), postgres_cpu(dbname), time.process_time()
            latencies, errors = http_load(server.url, requests, args.seconds, expect_status=201)
            cpu_after = server.cpu_seconds(), postgres_cpu(dbname), time.process_time()
            after = status_counts(app)
        check = flask(env, "ledger", "check").strip().splitlines()[-1]
    finally:
        drop_database(dbname)
    placed = {status: after.get(status, 0) - before.get(status, 0) for status in after}
    rate = len(latencies) / args.seconds
    filled_rate = placed.get("filled", 0) / args.seconds
    per_order = [(b - a) / max(len(latencies), 1) * 1000 for a, b in zip(cpu_before, cpu_after, strict=True)]
    print(
        f"(a) market orders via HTTP API: {rate:.1f}/s with {args.clients} clients "
        f"({len(latencies)} answered 201, {errors} errors); {summarize(latencies)}"
    )
    print(f"    orders by status during the run: {placed}; filled {filled_rate:.1f}/s")
    print(
        f"    gunicorn: {args.workers} x gthread worker(s), {args.threads} thread(s) each; CPU per order: "
        f"server {per_order[0]:.2f} ms, PostgreSQL {per_order[1]:.2f} ms, load generator {per_order[2]:.2f} ms"
    )
    print(f"    ledger check after the run: {check}")
    result = {
        "orders_per_second": rate,
        "filled_per_second": filled_rate,
        "ok": len(latencies),
        "errors": errors,
        "statuses": placed,
        "p50_ms": percentile(latencies, 50),
        "p99_ms": percentile(latencies, 99),
        "clients": args.clients,
        "seconds": args.seconds,
        "gunicorn": {"workers": args.workers, "threads": args.threads},
        "cpu_ms_per_order": dict(zip(("server", "postgresql", "load_generator"), per_order, strict=True)),
        "ledger_check": check,
    }
    if args.skip_pgbench:
        return result
    reference = pgbench_tps(clients=args.clients, seconds=int(args.seconds))
    ratio = rate / reference
    print(f"    pgbench TPC-B reference: {reference:.1f} tps with {args.clients} clients")
    print(f"    ratio: {ratio:.3f} (target >= 0.25: {verdict(ratio >= 0.25)})")
    result.update(pgbench_tps=reference, ratio=ratio)
    return result


# -- (b) trigger check per tick at 10k and 1M open orders --------------------------------------------

# Background resting orders, one trigger key in four, all far from the market (HIGH ≈ 100,000):
# buys and sell stops wait between 1,000 and 41,000, sells and buy stops between 200,000 and 300,000.
BACKGROUND_SQL = """
INSERT INTO orders (user_id, pair_id, order_type, side, quantity, price, stop_price, filled_quantity, status,
                    fee, source, trigger_key, trigger_price, status_reason, created_at, updated_at)
SELECT users[(1 + g.i %% cardinality(users))::int], %(pair_id)s, k.order_type, k.side, 0.01,
       CASE WHEN k.order_type = 'limit' THEN k.price END, CASE WHEN k.order_type <> 'limit' THEN k.price END,
       0, 'open', 0, 'manual', k.trigger_key, k.price, '', now(), now()
FROM generate_series(%(start)s::bigint, %(stop)s::bigint - 1) AS g(i)
CROSS JOIN LATERAL (SELECT %(user_ids)s::int[] AS users) AS u
CROSS JOIN LATERAL (
    SELECT CASE g.i %% 4 WHEN 0 THEN 'limit' WHEN 1 THEN 'limit' ELSE 'stop_loss' END AS order_type,
           CASE g.i %% 4 WHEN 0 THEN 'buy' WHEN 1 THEN 'sell' WHEN 2 THEN 'sell' ELSE 'buy' END AS side,
           CASE g.i %% 4 WHEN 0 THEN 'buy_down' WHEN 1 THEN 'sell_up' WHEN 2 THEN 'sell_down' ELSE 'buy_up' END
               AS trigger_key,
           CASE WHEN g.i %% 4 IN (0, 2) THEN 1000 + (g.i * 7919 %% 4000000) / 100.0
                ELSE 200000 + (g.i * 7919 %% 10000000) / 100.0 END AS price
) AS k
"""


def insert_background(dbname: str, pair_id: int, user_ids: list[int], start: int, stop: int) -> float:
    """Open orders ``start`` … ``stop - 1`` (no holds: they never fill), then VACUUM ANALYZE; seconds taken."""
    import psycopg

    began = time.perf_counter()
    with psycopg.connect(pg_url(dbname), autocommit=True) as conn:
        if stop > start:
            conn.execute(BACKGROUND_SQL, {"pair_id": pair_id, "user_ids": user_ids, "start": start, "stop": stop})
        conn.execute("VACUUM ANALYZE orders")
    return time.perf_counter() - began


def live_orders(dbname: str, pair_id: int) -> int:
    import psycopg

    with psycopg.connect(pg_url(dbname)) as conn:
        return conn.execute(
            "SELECT count(*) FROM orders WHERE pair_id = %s AND status IN ('open', 'partially_filled')", (pair_id,)
        ).fetchone()[0]


def measure_ticks(crosser: Crosser, ticks: int, crossed: int, warmup: int) -> tuple[list[float], list[float]]:
    """Per-tick ``check_triggers`` time (ms): ticks that cross ``crossed`` orders, and idle ticks."""
    from tradeapp.services.trading import orders

    crossing, idle = [], []
    crosser.publish()  # fresh prices again after the bulk insert
    for i in range(warmup + ticks):
        crosser.place(crossed)
        began = time.perf_counter()
        executed = orders.check_triggers(SYMBOL)  # nothing crossed yet: the cost of looking
        quiet = (time.perf_counter() - began) * 1000
        crosser.move()
        began = time.perf_counter()
        executed_now = orders.check_triggers(SYMBOL)
        elapsed = (time.perf_counter() - began) * 1000
        if executed or executed_now != crossed:
            raise RuntimeError(f"tick {i}: expected 0 then {crossed} executions, got {executed} and {executed_now}")
        if i >= warmup:
            crossing.append(elapsed)
            idle.append(quiet)
    return crossing, idle


def explain_trigger_queries(app, pair_id: int) -> list[str]:
    """EXPLAIN (ANALYZE, BUFFERS) of the statements ``crossed_order_ids`` runs at the current quote."""
    from sqlalchemy import event

    from tradeapp.extensions import db
    from tradeapp.models import TradingPair
    from tradeapp.services.trading import prices
    from tradeapp.services.trading.execution import crossed_order_ids

    statements: list[tuple[str, dict]] = []

    def capture(conn, cursor, statement, parameters, context, executemany):
        statements.append((statement, parameters))

    with app.app_context():
        quote = prices.live_quote(db.session.get(TradingPair, pair_id))
        event.listen(db.engine, "before_cursor_execute", capture)
        try:
            crossed_order_ids(pair_id, quote["bid"], quote["ask"])
        finally:
            event.remove(db.engine, "before_cursor_execute", capture)
        plans = []
        with db.engine.connect() as conn:
            for statement, parameters in statements:
                rows = conn.exec_driver_sql("EXPLAIN (ANALYZE, BUFFERS) " + statement, parameters).all()
                plans.append(" ".join(statement.split()) + "\n  params " + repr(parameters) + "\n")
                plans[-1] += "\n".join("  " + row[0] for row in rows)
        db.session.rollback()
    return plans


def part_triggers(args) -> dict:
    """check_triggers time per tick with ``--small`` and ``--large`` open orders on the pair."""
    dbname = "tradeapp_bench_trading_triggers"
    recreate_database(dbname)
    # No worker listens in this part: the trigger checks the feed enqueues stay queued (one per pair)
    # and are dropped at the end; this script calls check_triggers itself and times it.
    env = bench_env(dbname, JOBS_INLINE="false")
    reset_redis()
    result: dict = {"crossed_per_tick": args.crossed, "ticks": args.ticks}
    try:
        flask(env, "db", "upgrade")
        app = make_app(env)
        feed = BenchFeed()
        runner = FeedRunner(app, feed=feed, interval=1)
        with app.app_context():
            pair_id = setup_pairs(only=SYMBOL)
            traders = make_users(args.crossed, "trader", {"USD": "100000000", "BTC": "1000"})
            background_users = make_users(args.background_users, "resting", {})
            crosser = Crosser(feed, runner, [uid for uid, _ in traders])
            crosser.publish()
            inserted = 0
            sizes = {}
            for size in (args.small, args.large):
                took = insert_background(dbname, pair_id, [uid for uid, _ in background_users], inserted, size)
                inserted = size
                crossing, idle = measure_ticks(crosser, args.ticks, args.crossed, args.warmup)
                sizes[size] = {
                    "live_orders": live_orders(dbname, pair_id),
                    "insert_seconds": took,
                    "crossing": stats(crossing),
                    "idle": stats(idle),
                }
                s = sizes[size]
                print(
                    f"(b) {s['live_orders']:>9,} open orders (background inserted + VACUUM ANALYZE in {took:.1f} s): "
                    f"tick crossing {args.crossed}: median {s['crossing']['median_ms']:.2f} ms, "
                    f"p95 {s['crossing']['p95_ms']:.2f} ms; idle tick: median {s['idle']['median_ms']:.2f} ms, "
                    f"p95 {s['idle']['p95_ms']:.2f} ms"
                )
            plans = explain_trigger_queries(app, pair_id)
    finally:
        reset_redis()
        drop_database(dbname)
    small, large = sizes[args.small]["crossing"], sizes[args.large]["crossing"]
    ratio = large["median_ms"] / small["median_ms"]
    ratio_p95 = large["p95_ms"] / small["p95_ms"]
    idle_ratio = sizes[args.large]["idle"]["median_ms"] / sizes[args.small]["idle"]["median_ms"]
    print(
        f"    ratio {args.large:,} / {args.small:,}: median {ratio:.2f}, p95 {ratio_p95:.2f} "
        f"(target <= 1.5: {verdict(ratio <= 1.5)}); idle-tick median ratio {idle_ratio:.2f}"
    )
    print(f"    EXPLAIN of the trigger queries at {args.large:,} open orders (the quote crosses nothing):")
    for plan in plans:
        print("    " + plan.replace("\n", "\n    "))
    result.update(sizes={str(k): v for k, v in sizes.items()}, ratio=ratio, ratio_p95=ratio_p95, idle_ratio=idle_ratio)
    result["explain"] = plans
    return result


# -- (c) tick-to-fill latency ------------------------------------------------------------------------


class OrderWatcher:
    """A python-socketio client (its own thread and event loop) noting when each order's fill arrives."""

    def __init__(self, base: str, token: str) -> None:
        self.base, self.token = base, token
        self.filled: dict[int, float] = {}
        self.arrived = threading.Condition()
        self.transport = "?"

    def _on_order(self, data: dict) -> None:
        now = time.perf_counter()
        if data.get("status") == "filled":
            with self.arrived:
                self.filled.setdefault(int(data["id"]), now)
                self.arrived.notify_all()

    def start(self) -> None:
        ready = threading.Event()
        errors: list[BaseException] = []

        def run() -> None:
            import asyncio

            import socketio

            async def main() -> None:
                client = socketio.AsyncClient(reconnection=False)

                @client.on("order")
                async def on_order(data):
                    self._on_order(data)

                # The AsyncClient talks websocket through aiohttp (the sync client would need websocket-client).
                await client.connect(self.base, auth={"token": self.token}, transports=["websocket"])
                self.transport = client.transport()
                self._client, self._loop = client, asyncio.get_running_loop()
                self._stopped = asyncio.Event()
                ready.set()
                await self._stopped.wait()
                await client.disconnect()

            try:
                asyncio.run(main())
            except BaseException as exc:  # noqa: BLE001 - reported by start()
                errors.append(exc)
                ready.set()

        self._thread = threading.Thread(target=run, name="socketio-client", daemon=True)
        self._thread.start()
        ready.wait(30)
        if errors or not ready.is_set():
            raise RuntimeError(f"Socket.IO client could not connect: {errors[0] if errors else 'timeout'}")

    def stop(self) -> None:
        if getattr(self, "_loop", None) is not None:
            self._loop.call_soon_threadsafe(self._stopped.set)
            self._thread.join(10)

    def wait_filled(self, order_id: int, timeout: float) -> float | None:
        with self.arrived:
            self.arrived.wait_for(lambda: order_id in self.filled, timeout)
            return self.filled.get(order_id)


def wait_job_done(queue_conn, job_id: str, timeout: float = 10) -> None:
    """Until the pair's trigger check is neither queued nor running (so samples do not overlap)."""
    from rq.exceptions import NoSuchJobError
    from rq.job import Job

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            status = Job.fetch(job_id, connection=queue_conn).get_status(refresh=True)
        except NoSuchJobError:
            return
        if status not in ("queued", "started", "scheduled", "deferred"):
            return
        time.sleep(0.005)


#: where a tick's time goes, from the RQ job's own timestamps (wall clock, microseconds)
STAGES = {
    "to_enqueued": "tick published → job enqueued",
    "queued": "job enqueued → started (dequeue, fork, setup)",
    "running": "job started → ended (trigger check, fill, emit)",
    "to_received": "job started → client received the fill",
}


def job_stages(conn, job_id: str, runner: TimedFeedRunner, received: float) -> dict:
    """One sample's stages in ms (see STAGES); the receipt is converted to the wall clock."""
    from rq.exceptions import NoSuchJobError
    from rq.job import Job

    try:
        job = Job.fetch(job_id, connection=conn)
    except NoSuchJobError:
        return {}
    received_wall = runner.published_wall + (received - runner.published_at)
    marks = [t.timestamp() if t else None for t in (job.enqueued_at, job.started_at, job.ended_at)]
    if None in marks:
        return {}
    enqueued, started, ended = marks
    return {
        "to_enqueued": (enqueued - runner.published_wall) * 1000,
        "queued": (started - enqueued) * 1000,
        "running": (ended - started) * 1000,
        "to_received": (received_wall - started) * 1000,
    }


def part_latency(args) -> dict:
    """Tick published → RQ worker fills → Socket.IO client receives the ``order`` event."""
    dbname = "tradeapp_bench_trading_latency"
    recreate_database(dbname)
    env = bench_env(dbname, JOBS_INLINE="false")
    reset_redis()
    latencies: list[float] = []
    stages: list[dict] = []
    missing = 0
    try:
        flask(env, "db", "upgrade")
        app = make_app(env)
        feed = BenchFeed()
        runner = TimedFeedRunner(app, feed=feed, interval=1)
        with app.app_context():
            setup_pairs(only=SYMBOL)
            traders = make_users(1, "latency", {"USD": "100000000", "BTC": "1000"})
        crosser = Crosser(feed, runner, [traders[0][0]])
        crosser.publish()
        worker_argv = [str(BIN / "rq"), "worker", "-w", args.worker_class, "--url", TRADING_REDIS_URL]
        worker_argv += ["--logging_level", "WARNING", "orders"]
        conn = redis_conn()
        job_id = "triggers-" + SYMBOL.replace("/", "-")
        with (
            realtime_process(env) as server,
            background("worker", worker_argv, env),
            app.app_context(),
        ):
            watcher = OrderWatcher(server.url, traders[0][1])
            watcher.start()
            try:
                for i in range(args.warmup + args.samples):
                    wait_job_done(conn, job_id)
                    (order_id,) = crosser.place(1)
                    crosser.move()
                    received = watcher.wait_filled(order_id, timeout=30 if i < args.warmup else 5)
                    if received is None:
                        missing += 1
                    elif i >= args.warmup:
                        latencies.append((received - runner.published_at) * 1000)
                        wait_job_done(conn, job_id)
                        stages.append(job_stages(conn, job_id, runner, received))
                    time.sleep(args.gap)
            finally:
                watcher.stop()
        check = flask(env, "ledger", "check").strip().splitlines()[-1]
    finally:
        reset_redis()
        drop_database(dbname)
    if not latencies:
        raise RuntimeError("no fill reached the Socket.IO client (see bench/results/trading-worker.log)")
    s = stats(latencies)
    print(
        f"(c) tick-to-fill latency over {s['n']} ticks (feed publish → rq worker fill → Socket.IO "
        f"{watcher.transport} client): p50 {percentile(latencies, 50):.1f} ms, p99 {s['p99_ms']:.1f} ms, "
        f"max {s['max_ms']:.1f} ms (target p99 < 100 ms: {verdict(s['p99_ms'] < 100)}); {missing} fills not received"
    )
    breakdown = {name: stats([row[name] for row in stages if name in row]) for name in STAGES}
    for name, label in STAGES.items():
        b = breakdown[name]
        print(f"    {label:<48} p50 {b['median_ms']:7.1f} ms, p99 {b['p99_ms']:7.1f} ms")
    print(f"    Socket.IO via the realtime process; ledger check after the run: {check}")
    return {
        "breakdown": breakdown,
        "samples": s["n"],
        "p50_ms": percentile(latencies, 50),
        "p99_ms": s["p99_ms"],
        "max_ms": s["max_ms"],
        "missing": missing,
        "transport": watcher.transport,
        "ledger_check": check,
        "latencies_ms": latencies,
    }


# -- main ----------------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--part", action="append", choices=("a", "b", "c"), help="run only this part (repeatable)")
    group = parser.add_argument_group("(a) orders through the HTTP API")
    group.add_argument("--clients", type=int, default=16)
    group.add_argument("--seconds", type=float, default=10)
    group.add_argument("--workers", type=int, default=4, help="gunicorn worker processes")
    group.add_argument("--threads", type=int, default=4, help="threads per gunicorn worker")
    group.add_argument("--skip-pgbench", action="store_true", help="only the API figure")
    group = parser.add_argument_group("(b) trigger check per tick")
    group.add_argument("--small", type=int, default=10_000, help="open orders, first measurement")
    group.add_argument("--large", type=int, default=1_000_000, help="open orders, second measurement")
    group.add_argument("--ticks", type=int, default=50, help="measured ticks per size")
    group.add_argument("--crossed", type=int, default=5, help="real orders each measured tick crosses")
    group.add_argument("--background-users", type=int, default=50, help="owners of the background orders")
    group = parser.add_argument_group("(c) tick-to-fill latency")
    group.add_argument("--samples", type=int, default=200, help="measured ticks (at least 100 for a p99)")
    group.add_argument("--gap", type=float, default=0.02, help="pause between samples, seconds")
    group.add_argument(
        "--worker-class",
        default="tradeapp.jobs.worker.OrdersWorker",
        help="rq worker class (the Procfile's by default; rq.worker.SimpleWorker to compare without a fork per job)",
    )
    parser.add_argument("--warmup", type=int, default=5, help="unmeasured ticks/samples first (b, c)")
    args = parser.parse_args()

    parts = {"a": part_api, "b": part_triggers, "c": part_latency}
    results: dict = {"started": time.strftime("%Y-%m-%dT%H:%M:%S"), "args": vars(args)}
    # Figures depend on what else the machine runs: say so next to them.
    load = os.getloadavg()[0]
    for name in args.part or sorted(parts):
        results[name] = parts[name](args)
    results["machine"] = {"cpus": os.cpu_count(), "load_before": load, "load_after": os.getloadavg()[0]}
    print(f"machine: {os.cpu_count()} CPUs; 1-minute load average {load:.2f} before, {os.getloadavg()[0]:.2f} after")
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    out = RESULTS_DIR / f"trading-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(json.dumps(results, indent=2, default=str))
    print(f"results written to {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
