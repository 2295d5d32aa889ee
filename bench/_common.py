"""Helpers shared by the benchmark scripts: scratch databases, a gunicorn server, pgbench."""

import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PG_ADMIN = os.environ.get("BENCH_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")


def pg_url(dbname: str) -> str:
    return PG_ADMIN.rsplit("/", 1)[0] + "/" + dbname


def recreate_database(dbname: str) -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{dbname}"')


def drop_database(dbname: str) -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def app_env(dbname: str) -> dict:
    env = dict(os.environ)
    env.update(
        DATABASE_URL=pg_url(dbname),
        REDIS_URL=REDIS_URL,
        SECRET_KEY="bench-secret-key-0123456789abcdef0123456789",
        RATELIMIT_ENABLED="false",
        INSTANCE_DIR=tempfile.mkdtemp(prefix="tradeapp-bench-"),
        JOBS_INLINE="true",
        MAIL_BACKEND="outbox",
        SESSION_COOKIE_SECURE="false",
        LOG_LEVEL="WARNING",
        PYTHONPATH=str(ROOT),
    )
    return env


def flask(env: dict, *args: str) -> str:
    out = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "wsgi", *args],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return out.stdout


@contextmanager
def gunicorn(env: dict, workers: int = 2, threads: int = 16):
    port = free_port()
    gunicorn_bin = str(Path(sys.executable).with_name("gunicorn"))
    proc = subprocess.Popen(
        [
            gunicorn_bin,
            "-w",
            str(workers),
            "--threads",
            str(threads),
            "-b",
            f"127.0.0.1:{port}",
            "--log-level",
            "warning",
            "wsgi:app",
        ],
        cwd=ROOT,
        env=env,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(base + "/healthz", timeout=1).read()
                break
            except OSError:
                time.sleep(0.2)
        else:
            raise RuntimeError("gunicorn did not start")
        yield base
    finally:
        proc.terminate()
        proc.wait(10)


def pgbench_tps(clients: int = 16, seconds: int = 10, scale: int = 10) -> float:
    """TPC-B transactions per second on a scratch database (the reference for one durable write)."""
    dbname = "tradeapp_bench_pgbench"
    recreate_database(dbname)
    conn = ["-h", "127.0.0.1", "-U", "postgres"]
    try:
        subprocess.run(["pgbench", *conn, "-i", "-q", "-s", str(scale), dbname], check=True, capture_output=True)
        out = subprocess.run(
            ["pgbench", *conn, "-c", str(clients), "-j", "2", "-T", str(seconds), dbname],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    finally:
        drop_database(dbname)
    match = re.search(r"tps = ([0-9.]+)", out)
    if not match:
        raise RuntimeError(f"could not read pgbench output:\n{out}")
    return float(match.group(1))


def percentile(samples: list[float], p: float) -> float:
    if not samples:
        return float("nan")
    ordered = sorted(samples)
    index = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[index]


def summarize(latencies_ms: list[float]) -> str:
    return (
        f"p50 {percentile(latencies_ms, 50):.1f} ms, p99 {percentile(latencies_ms, 99):.1f} ms, "
        f"mean {statistics.fmean(latencies_ms):.1f} ms"
    )
