"""Transfers per second through the HTTP API under gunicorn on PostgreSQL, against pgbench.

Run: ``make bench-ledger`` (or ``.venv/bin/python bench/ledger_bench.py``). Needs PostgreSQL
and Redis on localhost. Prints throughput, p50/p99 latency, pgbench TPC-B TPS with the same
client count measured in the same run, and the ratio (target ≥ 0.25).
"""

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import (  # noqa: E402
    app_env,
    drop_database,
    flask,
    gunicorn,
    http_load,
    http_request,
    pg_url,
    pgbench_tps,
    postgres_cpu,
    private_redis,
    recreate_database,
    summarize,
)

SETUP = """
from decimal import Decimal
from tradeapp import create_app
from tradeapp.extensions import db
from tradeapp.models import User
from tradeapp.models.types import utcnow
from tradeapp.services import ledger, passwords
from tradeapp.services.ledger import Leg
from tradeapp.services.tokens import issue_tokens
from tradeapp.services.users import _new_referral_code
import json
app = create_app()
with app.app_context():
    tokens = []
    for i in range({users}):
        u = User(email=f"bench{{i}}@example.com", username=f"bench{{i}}", password_hash=passwords.hash_password("Bench-password-123"),
                 referral_code=_new_referral_code(), email_verified_at=utcnow())
        db.session.add(u)
        db.session.flush()
        w = ledger.wallet_for(u, "USD")
        ledger.post("adjustment", [Leg(w, Decimal("1000000")), Leg(ledger.platform_account("adjustments", "USD"), Decimal("-1000000"))])
        db.session.commit()
        tokens.append(issue_tokens(u)["access"])
    print(json.dumps(tokens))
"""


def run(base: str, tokens: list[str], clients: int, seconds: float) -> tuple[int, int, list[float]]:
    """``clients`` closed-loop clients posting transfers for ``seconds``: (ok, errors, latencies)."""
    requests = []
    for i in range(clients):
        # Each client pays the next user: money flows around a ring, touching two wallets per call.
        body = json.dumps(
            {"to_username": f"bench{(i + 1) % len(tokens)}", "currency": "USD", "amount": "1.00", "note": "bench"}
        ).encode()
        headers = {"Authorization": f"Bearer {tokens[i % len(tokens)]}", "Content-Type": "application/json"}
        requests.append(http_request(base, "POST", "/api/v1/transfers/", headers, body))
    latencies, errors = http_load(base, requests, seconds, expect_status=201)
    return len(latencies), errors, latencies


def committed_transfers(dbname: str) -> int:
    """Transfer entries in the ledger: each 201 must stand for exactly one committed transfer."""
    import psycopg

    with psycopg.connect(pg_url(dbname)) as conn:
        return conn.execute("SELECT count(*) FROM journal_entries WHERE kind = 'transfer'").fetchone()[0]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=10)
    # One process per core and then some, so a core is busy while another request waits on the
    # database; threads stay within the engine's pool (5), or every request beyond it would open
    # and close its own PostgreSQL connection.
    parser.add_argument("--workers", type=int, default=4, help="gunicorn worker processes")
    parser.add_argument("--threads", type=int, default=4, help="threads per gunicorn worker")
    parser.add_argument("--worker-class", default="gthread", help="gunicorn worker class")
    parser.add_argument("--skip-pgbench", action="store_true", help="only the API figure (for quick comparisons)")
    args = parser.parse_args()

    dbname = "tradeapp_bench_ledger"
    recreate_database(dbname)
    env = app_env(dbname)
    with private_redis() as redis_url:
        env["REDIS_URL"] = redis_url
        return measure(args, dbname, env)


def measure(args, dbname: str, env: dict) -> int:
    """Set up the scratch database, serve it with gunicorn, load it, print the figures."""
    try:
        flask(env, "db", "upgrade")
        tokens = json.loads(
            subprocess.run(
                [sys.executable, "-c", SETUP.format(users=args.clients)],
                env=env,
                check=True,
                capture_output=True,
                text=True,
                cwd=Path(__file__).resolve().parent.parent,
            )
            .stdout.strip()
            .splitlines()[-1]
        )
        with gunicorn(env, args.workers, args.threads, args.worker_class) as server:
            warm_ok, _, _ = run(server.url, tokens, args.clients, 2)  # warm-up
            before = server.cpu_seconds(), postgres_cpu(dbname), time.process_time()
            ok, errors, latencies = run(server.url, tokens, args.clients, args.seconds)
            after = server.cpu_seconds(), postgres_cpu(dbname), time.process_time()
        server_cpu, db_cpu, client_cpu = (b - a for a, b in zip(before, after, strict=True))
        check = flask(env, "ledger", "check")
        committed = committed_transfers(dbname)
    finally:
        drop_database(dbname)
    tps = ok / args.seconds
    print(
        f"transfers via HTTP API: {tps:.1f}/s with {args.clients} clients ({ok} ok, {errors} errors); {summarize(latencies)}"
    )
    print(
        f"gunicorn: {args.workers} x {args.worker_class} worker(s), {args.threads} thread(s) each; CPU per transfer: "
        f"server {server_cpu / max(ok, 1) * 1000:.2f} ms, PostgreSQL {db_cpu / max(ok, 1) * 1000:.2f} ms, "
        f"load generator {client_cpu / max(ok, 1) * 1000:.2f} ms"
    )
    print(f"transfers committed in the database: {committed} (answered 201, warm-up included: {warm_ok + ok})")
    if committed != warm_ok + ok:
        print("the database does not hold exactly the transfers the API confirmed", file=sys.stderr)
        return 1
    if args.skip_pgbench:
        return 0
    reference = pgbench_tps(clients=args.clients, seconds=int(args.seconds))
    print(f"pgbench TPC-B reference: {reference:.1f} tps with {args.clients} clients")
    print(f"ratio: {tps / reference:.3f} (target >= 0.25)")
    print("ledger check after the run: " + check.strip().splitlines()[-1])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
