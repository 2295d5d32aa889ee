"""Fan-out: 1,000 Socket.IO clients on ``ticker:BTC-USD`` through the realtime process.

Run: ``make bench-fanout`` (or ``.venv/bin/python bench/fanout_bench.py``). Needs PostgreSQL and
Redis on localhost (a private ``redis-server`` is started when the command exists).

It serves the app as the Procfile does (``web``: gunicorn -c gunicorn.conf.py; ``realtime``:
python -m tradeapp.realtime_server), then:

1. idle: API latency (``GET /api/v1/wallets/``, ``--api-clients`` closed-loop clients) with no socket open;
2. connects ``--clients`` python-socketio AsyncClients over websocket (the browser's first
   transport), each authenticated with an access JWT, each subscribing to ``BTC-USD``; the clients
   live in ``--shards`` processes so that their own decoding does not queue the arrivals;
3. publishes ``--ticks`` ticker events, one per ``--interval`` seconds, through the same
   Flask-SocketIO message-queue emitter the feed process uses (each carries its publish time),
   while measuring the API latency again.

Prints: clients connected, clients that received every tick, p50/p99/max publish→arrival delay,
and API p99 connected vs idle. Targets: all connected and fed, p99 < 250 ms, API p99 ≤ 2 × idle.
"""

import argparse
import asyncio
import json
import multiprocessing
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import (  # noqa: E402
    ROOT,
    app_env,
    drop_database,
    flask,
    http_load,
    http_request,
    percentile,
    private_redis,
    procfile_web,
    raise_open_files_limit,
    realtime_process,
    recreate_database,
    summarize,
)

ROOM = "ticker:BTC-USD"

SETUP = """
import json
from tradeapp import create_app
from tradeapp.extensions import db
from tradeapp.models import User
from tradeapp.models.types import utcnow
from tradeapp.services import ledger, passwords
from tradeapp.services.tokens import issue_tokens
from tradeapp.services.users import _new_referral_code
app = create_app()
with app.app_context():
    u = User(email="fanout@example.com", username="fanout", password_hash=passwords.hash_password("Bench-password-123"),
             referral_code=_new_referral_code(), email_verified_at=utcnow())
    db.session.add(u)
    db.session.flush()
    ledger.wallet_for(u, "USD")
    db.session.commit()
    print(json.dumps(issue_tokens(u)["access"]))
"""


def shard(index: int, base: str, token: str, count: int, connect_concurrency: int, inbox, outbox) -> None:
    """One client process: ``count`` clients; reports ("ready", connected) then ("result", {...})."""
    import socketio

    async def main() -> None:
        received = [0] * count
        delays: list[float] = []
        clients: list = []
        gate = asyncio.Semaphore(connect_concurrency)
        failures: dict[str, int] = {}

        async def one(i: int) -> None:
            client = socketio.AsyncClient(reconnection=False)

            def on_ticker(data: dict) -> None:
                delays.append((data["seq"], (time.time() - data["sent"]) * 1000))
                received[i] += 1

            client.on("ticker", on_ticker)
            async with gate:
                try:
                    await client.connect(base, transports=["websocket"], auth={"token": token}, wait_timeout=30)
                    ack = await client.call("subscribe", {"symbols": ["BTC-USD"]}, timeout=30)
                    if ack != {"ok": True}:
                        raise RuntimeError(f"subscribe answered {ack!r}")
                except Exception as exc:  # noqa: BLE001 - counted and reported
                    failures[type(exc).__name__] = failures.get(type(exc).__name__, 0) + 1
                    return
            clients.append(client)

        start = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(count)))
        connect_seconds = time.perf_counter() - start
        outbox.put(("ready", index, len(clients)))
        loop = asyncio.get_running_loop()
        cpu_before = time.process_time()
        await loop.run_in_executor(None, inbox.get)  # "stop"
        cpu = time.process_time() - cpu_before
        connected_at_end = sum(1 for c in clients if c.connected)
        outbox.put(
            (
                "result",
                index,
                {
                    "connected": len(clients),
                    "connected_at_end": connected_at_end,
                    "received": received,
                    "delays": delays,
                    "connect_seconds": connect_seconds,
                    "failures": failures,
                    "cpu_seconds": cpu,
                },
            )
        )
        await asyncio.gather(*(c.disconnect() for c in clients), return_exceptions=True)

    import gc

    import uvloop

    gc.freeze()
    uvloop.run(main())


def api_requests(base: str, token: str, clients: int) -> list[bytes]:
    headers = {"Authorization": f"Bearer {token}"}
    return [http_request(base, "GET", "/api/v1/wallets/", headers) for _ in range(clients)]


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def measure(args, dbname: str, env: dict) -> dict:
    from flask_socketio import SocketIO

    flask(env, "db", "upgrade")
    token = json.loads(
        subprocess.run(
            [sys.executable, "-c", SETUP], env=env, check=True, capture_output=True, text=True, cwd=ROOT
        ).stdout.splitlines()[-1]
    )
    emitter = SocketIO(message_queue=env["REDIS_URL"])
    with procfile_web(env) as web, realtime_process(env) as rt:
        requests = api_requests(web.url, token, args.api_clients)
        http_load(web.url, requests, 2)  # warm-up
        idle, idle_errors = http_load(web.url, requests, args.api_seconds, think=args.api_think)
        rss_idle = rss_mb(rt.pid)

        ctx = multiprocessing.get_context("spawn")
        outbox = ctx.Queue()
        inboxes = [ctx.Queue() for _ in range(args.shards)]
        sizes = [args.clients // args.shards + (1 if i < args.clients % args.shards else 0) for i in range(args.shards)]
        procs = [
            ctx.Process(target=shard, args=(i, rt.url, token, sizes[i], args.connect_concurrency, inboxes[i], outbox))
            for i in range(args.shards)
        ]
        started = time.perf_counter()
        for p in procs:
            p.start()
        connected = sum(outbox.get(timeout=600)[2] for _ in procs)
        connect_seconds = time.perf_counter() - started
        rt_cpu_before = rt.cpu_seconds()

        # Ticks and API load at the same time: the API figure is "while the sockets are fed".
        published: list[float] = []

        async def publish() -> None:
            loop = asyncio.get_running_loop()
            for seq in range(args.ticks):
                payload = {"symbol": "BTC/USD", "seq": seq, "price": "50000.00", "sent": time.time()}
                await loop.run_in_executor(None, lambda p=payload: emitter.emit("ticker", p, to=ROOM))
                published.append(payload["sent"])
                await asyncio.sleep(args.interval)

        async def both():
            loop = asyncio.get_running_loop()
            api = loop.run_in_executor(
                None, lambda: http_load(web.url, requests, args.ticks * args.interval, think=args.api_think)
            )
            await publish()
            return await api

        busy, busy_errors = asyncio.run(both())
        time.sleep(2)  # the last tick's stragglers
        rt_cpu = rt.cpu_seconds() - rt_cpu_before
        rss_busy = rss_mb(rt.pid)
        for q in inboxes:
            q.put("stop")
        results = [outbox.get(timeout=120)[2] for _ in procs]
        for p in procs:
            p.join(30)
    received = [n for r in results for n in r["received"]]
    per_tick: dict[int, list[float]] = {}
    for r in results:
        for seq, d in r["delays"]:
            per_tick.setdefault(seq, []).append(d)
    delays = [d for ds in per_tick.values() for d in ds]
    failures: dict[str, int] = {}
    for r in results:
        for name, n in r["failures"].items():
            failures[name] = failures.get(name, 0) + n
    return {
        "clients": args.clients,
        "connected": connected,
        "connected_at_end": sum(r["connected_at_end"] for r in results),
        "connect_seconds": connect_seconds,
        "connect_failures": failures,
        "ticks": len(published),
        "fed_every_tick": sum(1 for n in received if n == len(published)),
        "deliveries": len(delays),
        "per_tick_p99_ms": {seq: round(percentile(ds, 99), 1) for seq, ds in sorted(per_tick.items())},
        "delay_p50_ms": percentile(delays, 50),
        "delay_p99_ms": percentile(delays, 99),
        "delay_max_ms": max(delays) if delays else float("nan"),
        "api_idle": idle,
        "api_idle_errors": idle_errors,
        "api_busy": busy,
        "api_busy_errors": busy_errors,
        "realtime_cpu_per_tick_ms": rt_cpu / max(len(published), 1) * 1000,
        "clients_cpu_per_tick_ms": sum(r["cpu_seconds"] for r in results) / max(len(published), 1) * 1000,
        "realtime_rss_mb": (rss_idle, rss_busy),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=1000, help="Socket.IO clients")
    parser.add_argument("--shards", type=int, default=2, help="client processes")
    parser.add_argument("--connect-concurrency", type=int, default=50, help="handshakes in flight per shard")
    parser.add_argument("--ticks", type=int, default=20, help="ticker events published")
    parser.add_argument("--interval", type=float, default=1.0, help="seconds between ticks (the feed's FEED_INTERVAL)")
    parser.add_argument("--api-clients", type=int, default=2, help="API latency probes")
    parser.add_argument("--api-think", type=float, default=0.05, help="each probe's pause between requests, s")
    parser.add_argument("--api-seconds", type=float, default=10, help="idle API measurement")
    args = parser.parse_args()

    limit = raise_open_files_limit(args.clients * 2 + 1024)
    dbname = "tradeapp_bench_fanout"
    recreate_database(dbname)
    env = app_env(dbname)
    load = os.getloadavg()[0]
    try:
        with private_redis() as redis_url:
            env["REDIS_URL"] = redis_url
            r = measure(args, dbname, env)
    finally:
        drop_database(dbname)

    idle_p99, busy_p99 = percentile(r["api_idle"], 99), percentile(r["api_busy"], 99)
    all_fed = r["connected"] == args.clients and r["fed_every_tick"] == args.clients
    print(
        f"connected: {r['connected']}/{args.clients} in {r['connect_seconds']:.1f} s "
        f"(still connected at the end: {r['connected_at_end']}; failures: {r['connect_failures'] or 'none'})"
    )
    print(
        f"fed: {r['fed_every_tick']}/{args.clients} clients received all {r['ticks']} ticks "
        f"({r['deliveries']} deliveries)"
    )
    print(
        f"publish → arrival: p50 {r['delay_p50_ms']:.1f} ms, p99 {r['delay_p99_ms']:.1f} ms, "
        f"max {r['delay_max_ms']:.1f} ms (target p99 < 250 ms)"
    )
    print(f"    p99 per tick (ms): {' '.join(str(v) for v in r['per_tick_p99_ms'].values())}")
    print(
        f"API idle ({args.api_clients} probes, GET /api/v1/wallets/, {args.api_think * 1000:.0f} ms pause): "
        f"{summarize(r['api_idle'])} ({len(r['api_idle'])} requests, {r['api_idle_errors']} errors)"
    )
    print(
        f"API with the sockets connected and fed: {summarize(r['api_busy'])} "
        f"({len(r['api_busy'])} requests, {r['api_busy_errors']} errors)"
    )
    print(f"API p99 ratio connected / idle: {busy_p99 / idle_p99:.2f} (target <= 2)")
    print(
        f"realtime process: CPU {r['realtime_cpu_per_tick_ms']:.1f} ms per tick (the client processes: "
        f"{r['clients_cpu_per_tick_ms']:.1f} ms); RSS {r['realtime_rss_mb'][0]:.0f} MB "
        f"idle, {r['realtime_rss_mb'][1]:.0f} MB with the clients"
    )
    print(
        f"machine: {os.cpu_count()} CPUs; load average {load:.2f} before, {os.getloadavg()[0]:.2f} after; nofile {limit}"
    )
    ok = all_fed and r["delay_p99_ms"] < 250 and busy_p99 <= 2 * idle_p99
    print("targets met" if ok else "TARGETS MISSED")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
