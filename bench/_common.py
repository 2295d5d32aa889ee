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
    """A free local port: from ``BENCH_PORTS`` ("6300-6399") when set, else any the kernel picks."""
    low, _, high = os.environ.get("BENCH_PORTS", "0-0").partition("-")
    for port in range(int(low), int(high or low) + 1):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return s.getsockname()[1]
    raise RuntimeError(f"no free port in BENCH_PORTS={os.environ['BENCH_PORTS']}")


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
        # Production mode on the sandbox rails: a bench moves no real money.
        ALLOW_SANDBOX_PROVIDERS_IN_PRODUCTION="true",
        BASE_URL="http://127.0.0.1",
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
def private_redis():
    """A throwaway redis-server on a free port (its URL), or BENCH_REDIS_URL if there is none.

    Socket.IO pub/sub channels are shared by every database of a Redis server, so a benchmark
    with its own server does not spend CPU on another run's events (or feed it its own).
    """
    import shutil

    binary = shutil.which("redis-server")
    if binary is None:
        yield REDIS_URL
        return
    port = free_port()
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )
    try:
        for _ in range(50):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(10)


def process_tree_cpu(pid: int) -> float:
    """CPU seconds (user + system) used so far by ``pid`` and its living descendants (Linux /proc)."""
    children: dict[int, list[int]] = {}
    ticks: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(entry))
        ticks[int(entry)] = int(fields[11]) + int(fields[12])
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        total += ticks.get(current, 0)
        todo.extend(children.get(current, []))
    return total / os.sysconf("SC_CLK_TCK")


def postgres_cpu(dbname: str) -> float:
    """CPU seconds used so far by the PostgreSQL backends now connected to ``dbname`` (Linux /proc)."""
    import psycopg

    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        pids = [row[0] for row in conn.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s", (dbname,))]
    return sum(process_tree_cpu(pid) for pid in pids)


class Server:
    """A running gunicorn: its base URL and the CPU its processes have used."""

    def __init__(self, url: str, pid: int):
        self.url = url
        self.pid = pid

    def cpu_seconds(self) -> float:
        return process_tree_cpu(self.pid)


@contextmanager
def gunicorn(env: dict, workers: int = 2, threads: int = 16, worker_class: str = "gthread"):
    port = free_port()
    gunicorn_bin = str(Path(sys.executable).with_name("gunicorn"))
    proc = subprocess.Popen(
        [
            gunicorn_bin,
            "-w",
            str(workers),
            "--threads",
            str(threads),
            "-k",
            worker_class,
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
        yield Server(base, proc.pid)
    finally:
        proc.terminate()
        try:
            proc.wait(30)  # a loaded machine can take longer than 10 s to stop every worker
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def wait_http(url: str, proc: subprocess.Popen, what: str, tries: int = 150) -> None:
    """Until ``url`` answers (or ``proc`` exits)."""
    for _ in range(tries):
        try:
            urllib.request.urlopen(url, timeout=1).read()
            return
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError(f"{what} exited with {proc.returncode}") from None
            time.sleep(0.2)
    raise RuntimeError(f"{what} did not start")


@contextmanager
def procfile_web(env: dict, workers: int | None = None, threads: int | None = None):
    """The app as the Procfile's ``web`` line runs it (gunicorn -c gunicorn.conf.py wsgi:app):
    WEB_CONCURRENCY workers (default: one per core) x WEB_THREADS threads."""
    import shlex

    line = next(ln for ln in (ROOT / "Procfile").read_text().splitlines() if ln.startswith("web:"))
    argv = shlex.split(line.split(":", 1)[1])
    argv[0] = str(Path(sys.executable).with_name(argv[0]))
    port = free_port()
    env = dict(env, PORT=str(port), HOST="127.0.0.1")
    if workers:
        env["WEB_CONCURRENCY"] = str(workers)
    if threads:
        env["WEB_THREADS"] = str(threads)
    proc = subprocess.Popen([*argv, "--log-level", "warning"], cwd=ROOT, env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_http(base + "/healthz", proc, "gunicorn (Procfile web)")
        yield Server(base, proc.pid)
    finally:
        proc.terminate()
        try:
            proc.wait(30)  # a loaded machine can take longer than 10 s to stop every worker
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


@contextmanager
def realtime_process(env: dict):
    """The Procfile's ``realtime`` process (python -m tradeapp.realtime_server) on a free port."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "tradeapp.realtime_server", "--host", "127.0.0.1", "--port", str(port)],
        cwd=ROOT,
        env=env,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_http(base + "/healthz", proc, "the realtime process")
        yield Server(base, proc.pid)
    finally:
        proc.terminate()
        try:
            proc.wait(30)  # a loaded machine can take longer than 10 s to stop every worker
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def raise_open_files_limit(wanted: int) -> int:
    """Raise this process's soft RLIMIT_NOFILE towards ``wanted`` (children inherit it); the new limit."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = min(max(soft, wanted), hard) if hard != resource.RLIM_INFINITY else max(soft, wanted)
    if target > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return target


def http_load(
    base: str, requests: list[bytes], seconds: float, expect_status: int = 200, think: float = 0.0
) -> tuple[list[float], int]:
    """Closed-loop HTTP/1.1 clients, one per entry of ``requests`` (the raw bytes each sends again
    and again, pausing ``think`` seconds after each answer: a latency probe rather than a load);
    returns the latencies (ms) of answers with ``expect_status`` and the error count.

    A cheap load generator (asyncio, one thread, keep-alive connections) so that on a small
    machine the client takes as little CPU as it can from the server it measures. Each client
    waits for the whole answer before sending its next request; a connection the server closes
    is opened again (that cost is part of the measurement).
    """
    import asyncio
    from urllib.parse import urlsplit

    url = urlsplit(base)
    host, port = url.hostname, url.port or 80

    async def client(request: bytes, latencies: list[float], errors: list[int], deadline: float) -> None:
        reader = writer = None
        while time.perf_counter() < deadline:
            start = time.perf_counter()
            try:
                if writer is None:
                    reader, writer = await asyncio.open_connection(host, port)
                writer.write(request)
                head = await reader.readuntil(b"\r\n\r\n")
                status = int(head[9:12])
                length, close = 0, False
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    name = name.strip().lower()
                    if name == b"content-length":
                        length = int(value)
                    elif name == b"connection" and value.strip().lower() == b"close":
                        close = True
                if length:
                    await reader.readexactly(length)
            except (OSError, asyncio.IncompleteReadError, ValueError):
                status, close = 0, True
            if status == expect_status:
                latencies.append((time.perf_counter() - start) * 1000)
            else:
                errors[0] += 1
            if close and writer is not None:
                writer.close()
                reader = writer = None
            if think:
                await asyncio.sleep(think)
        if writer is not None:
            writer.close()

    async def main() -> tuple[list[float], int]:
        latencies: list[float] = []
        errors = [0]
        deadline = time.perf_counter() + seconds
        await asyncio.gather(*(client(r, latencies, errors, deadline) for r in requests))
        return latencies, errors[0]

    return asyncio.run(main())


def http_request(base: str, method: str, path: str, headers: dict, body: bytes = b"") -> bytes:
    """The raw bytes of one HTTP/1.1 request (keep-alive) for :func:`http_load`."""
    from urllib.parse import urlsplit

    lines = [f"{method} {path} HTTP/1.1", f"Host: {urlsplit(base).netloc}", f"Content-Length: {len(body)}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


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
