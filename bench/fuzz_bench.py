"""``make fuzz``: schemathesis, every check, against the app in production mode as a funded customer.

The app runs as the Procfile runs it (gunicorn, worker, orders worker, feed) on its own PostgreSQL
database and redis-server (bench/_stack.py: 127.0.0.1, ports 6100-6199). A verified customer with
dollars and bitcoin is the caller, so orders, transfers and withdrawals reach their services.
Prints schemathesis' report (and writes JUnit XML to bench/results/fuzz-junit.xml); exits with its
status: 0 only with no server error and no schema violation.

    python bench/fuzz_bench.py                   # 100 examples per operation, every check
    python bench/fuzz_bench.py --max-examples 20 # a shorter run
"""

import argparse
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._stack import BIN, RESULTS_DIR, Stack  # noqa: E402


def customer_token(app) -> str:
    from tradeapp.extensions import db
    from tradeapp.models import User
    from tradeapp.models.types import utcnow
    from tradeapp.services import ledger, passwords
    from tradeapp.services.ledger import Leg
    from tradeapp.services.tokens import issue_tokens
    from tradeapp.services.users import _new_referral_code

    with app.app_context():
        user = User(
            email="fuzz@example.com",
            username="fuzz",
            password_hash=passwords.hash_password("Fuzz-password-123"),
            referral_code=_new_referral_code(),
            email_verified_at=utcnow(),
            kyc_status="approved",
            is_verified=True,
        )
        db.session.add(user)
        db.session.flush()
        for currency, amount in (("USD", "1000000"), ("BTC", "50"), ("ETH", "500")):
            wallet = ledger.wallet_for(user, currency)
            adjustments = ledger.platform_account("adjustments", currency)
            ledger.post("adjustment", [Leg(wallet, Decimal(amount)), Leg(adjustments, -Decimal(amount))])
        db.session.commit()
        return issue_tokens(user)["access"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--max-examples", type=int, default=100)
    parser.add_argument("--checks", default="all")
    parser.add_argument("--workers", default="2")
    args = parser.parse_args()

    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    with Stack("fuzz", processes=("web", "worker", "orders", "feed")) as stack:
        token = customer_token(stack.app())
        argv = [
            str(BIN / "schemathesis"),
            "run",
            f"{stack.url}/api/schema/",
            "--url",
            stack.url,
            "--checks",
            args.checks,
            "--header",
            f"Authorization: Bearer {token}",
            "--max-examples",
            str(args.max_examples),
            "--workers",
            args.workers,
            "--generation-deterministic",
            "--report",
            "junit",
            "--report-junit-path",
            str(RESULTS_DIR / "fuzz-junit.xml"),
        ]
        print(
            "$ schemathesis run",
            stack.url + "/api/schema/",
            "--checks",
            args.checks,
            "--max-examples",
            args.max_examples,
            flush=True,
        )
        # its cache (.schemathesis/) goes with the other results, not into the work tree
        return subprocess.run(argv, check=False, cwd=RESULTS_DIR).returncode


if __name__ == "__main__":
    sys.exit(main())
