"""Transfers per second through the HTTP API under gunicorn on PostgreSQL, against pgbench.

Run: ``make bench-ledger`` (or ``.venv/bin/python bench/ledger_bench.py``). Needs PostgreSQL
and Redis on localhost. Prints throughput, p50/p99 latency, pgbench TPC-B TPS with the same
client count measured in the same run, and the ratio (target ≥ 0.25).
"""

import argparse
import json
import sys
import threading
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import (  # noqa: E402
    app_env,
    drop_database,
    flask,
    gunicorn,
    pgbench_tps,
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
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()
    deadline = time.perf_counter() + seconds

    def client(i: int) -> None:
        nonlocal errors
        token = tokens[i % len(tokens)]
        # Each client pays the next user: money flows around a ring, touching two wallets per call.
        to = f"bench{(i + 1) % len(tokens)}"
        body = json.dumps({"to_username": to, "currency": "USD", "amount": "1.00", "note": "bench"}).encode()
        mine, bad = [], 0
        while time.perf_counter() < deadline:
            req = urllib.request.Request(
                f"{base}/api/v1/transfers/",
                data=body,
                method="POST",
                headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
            )
            start = time.perf_counter()
            try:
                with urllib.request.urlopen(req, timeout=10) as r:
                    r.read()
                    ok = r.status == 201
            except Exception:
                ok = False
            elapsed = (time.perf_counter() - start) * 1000
            if ok:
                mine.append(elapsed)
            else:
                bad += 1
        with lock:
            latencies.extend(mine)
            errors += bad

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return len(latencies), errors, latencies


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=10)
    args = parser.parse_args()

    dbname = "tradeapp_bench_ledger"
    recreate_database(dbname)
    env = app_env(dbname)
    try:
        flask(env, "db", "upgrade")
        tokens = json.loads(
            __import__("subprocess")
            .run(
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
        with gunicorn(env) as base:
            run(base, tokens, args.clients, 2)  # warm-up
            ok, errors, latencies = run(base, tokens, args.clients, args.seconds)
        check = flask(env, "ledger", "check")
    finally:
        drop_database(dbname)
    tps = ok / args.seconds
    reference = pgbench_tps(clients=args.clients, seconds=int(args.seconds))
    print(
        f"transfers via HTTP API: {tps:.1f}/s with {args.clients} clients ({ok} ok, {errors} errors); {summarize(latencies)}"
    )
    print(f"pgbench TPC-B reference: {reference:.1f} tps with {args.clients} clients")
    print(f"ratio: {tps / reference:.3f} (target >= 0.25)")
    print("ledger check after the run: " + check.strip().splitlines()[-1])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
