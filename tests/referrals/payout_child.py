"""A payout run in a process of its own, for the parallel/kill test (``python -m tests.referrals.payout_child``).

Environment: ``CHILD_DB_URL``, ``CHILD_REDIS_URL``, ``CHILD_INSTANCE``; ``STALL_AT`` (the commit at
which to write ``STALL_MARKER`` and hang, so the parent can SIGKILL it mid-transaction) and
``SLOW`` (seconds to pause before each commit, so two runs interleave).
"""

import os
import time
from pathlib import Path

from sqlalchemy import event
from sqlalchemy.orm import Session

from tradeapp import create_app
from tradeapp.config import TestConfig
from tradeapp.services import referrals
from tradeapp.services.referrals.rewards import due_reward_ids


def main() -> None:
    app = create_app(
        TestConfig(
            os.environ["CHILD_DB_URL"], os.environ.get("CHILD_REDIS_URL", ""), Path(os.environ["CHILD_INSTANCE"])
        )
    )
    stall_at = int(os.environ.get("STALL_AT", "0"))
    slow = float(os.environ.get("SLOW", "0"))
    seen = {"n": 0}

    def before_commit(session):
        seen["n"] += 1
        if slow:
            time.sleep(slow)
        if stall_at and seen["n"] == stall_at:
            Path(os.environ["STALL_MARKER"]).write_text("stalled")
            time.sleep(600)  # killed here, its transaction open

    event.listen(Session, "before_commit", before_commit)
    with app.app_context():
        ids = due_reward_ids(now=referrals.rewards.utcnow() + referrals.rewards.timedelta(days=30))
        assert ids, "nothing due"
        referrals.pay_due_rewards(now=referrals.rewards.utcnow() + referrals.rewards.timedelta(days=30))


if __name__ == "__main__":
    main()
