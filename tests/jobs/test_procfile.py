"""The Procfile's worker listens to every queue, in the code's priority order."""

import shlex
from pathlib import Path

from tradeapp.jobs import QUEUES

ROOT = Path(__file__).resolve().parents[2]


def _procfile() -> dict[str, str]:
    lines = [line for line in (ROOT / "Procfile").read_text().splitlines() if line.strip()]
    return dict(line.split(":", 1) for line in lines)


def test_procfile_declares_each_process_once():
    procs = _procfile()
    assert set(procs) == {"release", "web", "worker", "scheduler", "feed"}


def test_worker_listens_to_every_queue_in_priority_order():
    args = shlex.split(_procfile()["worker"])
    assert args[:2] == ["rq", "worker"]
    queues = [a for a in args if a in QUEUES]
    assert tuple(queues) == QUEUES


def test_scheduler_uses_the_schedule_module():
    assert "rq cron tradeapp.jobs.schedule" in _procfile()["scheduler"]
