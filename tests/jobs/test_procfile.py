"""Between them the Procfile's workers listen to every queue, in the code's priority order."""

import shlex
from pathlib import Path

from tradeapp.jobs import QUEUES

ROOT = Path(__file__).resolve().parents[2]


def _procfile() -> dict[str, str]:
    lines = [line for line in (ROOT / "Procfile").read_text().splitlines() if line.strip()]
    return dict(line.split(":", 1) for line in lines)


def test_procfile_declares_each_process_once():
    procs = _procfile()
    assert set(procs) == {"release", "web", "realtime", "worker", "orders", "scheduler", "feed"}


def test_workers_listen_to_every_queue_in_priority_order():
    worker = shlex.split(_procfile()["worker"])
    orders = shlex.split(_procfile()["orders"])
    assert worker[:2] == orders[:2] == ["rq", "worker"]
    # the trigger checks get their own warm, non-forking worker; everything else forks per job
    assert [a for a in orders if a in QUEUES] == ["orders"]
    assert "tradeapp.jobs.worker.OrdersWorker" in orders
    assert tuple(a for a in worker if a in QUEUES) == tuple(q for q in QUEUES if q != "orders")


def test_orders_worker_runs_a_job_in_its_own_process(app, redis_conn, monkeypatch):
    from rq import Queue

    import tradeapp.jobs
    from tradeapp.jobs.worker import OrdersWorker

    # the worker's app is the test app (building another would re-initialise the shared extensions)
    monkeypatch.setattr(tradeapp.jobs, "_app", app)

    queue = Queue("orders", connection=redis_conn)
    job = queue.enqueue("os.getpid")
    OrdersWorker([queue], connection=redis_conn).work(burst=True)
    import os

    assert job.latest_result().return_value == os.getpid()  # no work horse was forked


def test_scheduler_uses_the_schedule_module():
    assert "rq cron tradeapp.jobs.schedule" in _procfile()["scheduler"]


def test_web_uses_every_core_and_realtime_serves_the_sockets(monkeypatch):
    import os
    import runpy

    assert shlex.split(_procfile()["web"]) == ["gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"]
    assert "tradeapp.realtime_server" in shlex.split(_procfile()["realtime"])
    monkeypatch.delenv("WEB_CONCURRENCY", raising=False)
    monkeypatch.delenv("WEB_THREADS", raising=False)
    settings = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    assert settings["workers"] == os.cpu_count()
    assert settings["worker_class"] == "gthread"
    monkeypatch.setenv("WEB_CONCURRENCY", "3")
    monkeypatch.setenv("WEB_THREADS", "8")
    settings = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    assert (settings["workers"], settings["threads"]) == (3, 8)
