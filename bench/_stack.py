"""A production-like tradeapp on this machine: its own PostgreSQL database, its own redis-server, and
the Procfile's processes (web on gunicorn, worker, orders, scheduler, feed), each of which can be
SIGKILLed and restarted. Only 127.0.0.1, and only ports from ``BENCH_PORTS`` (default 6100-6199).

Used by chaos_bench.py and fuzz_bench.py.
"""

import contextlib
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from bench._common import ROOT, drop_database, pg_url, recreate_database

BIN = Path(sys.executable).parent
_low, _, _high = os.environ.get("BENCH_PORTS", "6100-6199").partition("-")
PORTS = range(int(_low), int(_high) + 1)
RESULTS_DIR = ROOT / "bench" / "results"
#: the Procfile processes this stack runs from the Procfile itself (web is bound to 127.0.0.1 here)
FROM_PROCFILE = ("worker", "orders", "scheduler", "feed")


def port_in_range(start: int | None = None) -> int:
    """A free port of ``PORTS`` (from ``start`` on)."""
    for port in PORTS:
        if start is not None and port < start:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in {PORTS.start}-{PORTS.stop - 1}")


def procfile() -> dict[str, str]:
    lines = [line for line in (ROOT / "Procfile").read_text().splitlines() if line.strip() and ":" in line]
    return {name.strip(): command.strip() for name, command in (line.split(":", 1) for line in lines)}


class Stack:
    """``with Stack("chaos") as stack:`` → ``stack.url``, ``stack.env``, ``stack.kill(name)``, ``stack.start(name)``."""

    def __init__(self, name: str, *, web_threads: int = 32, env: dict | None = None, processes=None, keep=False):
        self.name = name
        #: leave the database in place at the end (to look into a failure)
        self.keep = keep
        self.dbname = f"tradeapp_bench_{name}"
        self.web_threads = web_threads
        self.extra_env = env or {}
        self.wanted = list(processes or ("web", *FROM_PROCFILE))
        self.procs: dict[str, subprocess.Popen] = {}
        self.kills: dict[str, int] = {}
        self.logs = RESULTS_DIR / f"{name}-logs"

    # -- life cycle ------------------------------------------------------------------------------

    def __enter__(self) -> "Stack":
        shutil.rmtree(self.logs, ignore_errors=True)  # this run's logs only (restarts append)
        self.logs.mkdir(parents=True, exist_ok=True)
        self.redis_port = port_in_range(6150)
        self.redis = subprocess.Popen(
            [shutil.which("redis-server") or "redis-server", "--port", str(self.redis_port), "--bind", "127.0.0.1"]
            + ["--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
            start_new_session=True,
        )
        self._wait_port(self.redis_port)
        self.web_port = port_in_range(6110)
        self.url = f"http://127.0.0.1:{self.web_port}"
        self.redis_url = f"redis://127.0.0.1:{self.redis_port}/0"
        recreate_database(self.dbname)
        self.env = self._env()
        self.flask("db", "upgrade")
        self.flask("seed", "demo")
        for name in self.wanted:
            self.start(name)
        self._wait_http(self.url + "/healthz")
        return self

    def __exit__(self, *exc) -> None:
        for name in list(self.procs):
            self.stop(name)
        self.redis.terminate()
        self.redis.wait(10)
        if self.keep:
            print(f"kept database {self.dbname} ({pg_url(self.dbname)})", flush=True)
        else:
            drop_database(self.dbname)

    def _env(self) -> dict:
        env = dict(os.environ)
        env.update(
            DATABASE_URL=pg_url(self.dbname),
            REDIS_URL=self.redis_url,
            SECRET_KEY="bench-secret-key-0123456789abcdef0123456789",
            BASE_URL=self.url,
            PORT=str(self.web_port),
            # a bench moves no real money: the sandbox rails, on purpose
            ALLOW_SANDBOX_PROVIDERS_IN_PRODUCTION="true",
            RATELIMIT_ENABLED="false",
            INSTANCE_DIR=tempfile.mkdtemp(prefix=f"tradeapp-{self.name}-"),
            MAIL_BACKEND="outbox",
            SESSION_COOKIE_SECURE="false",
            LOG_LEVEL="WARNING",
            PYTHONPATH=str(ROOT),
            PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        )
        for key in ("JOBS_INLINE", "TEST_DATABASE"):
            env.pop(key, None)
        env.update(self.extra_env)
        return env

    def flask(self, *args: str) -> str:
        out = subprocess.run(
            [str(BIN / "flask"), "--app", "wsgi", *args], cwd=ROOT, env=self.env, capture_output=True, text=True
        )
        if out.returncode:
            raise RuntimeError(f"flask {' '.join(args)} failed:\n{out.stderr[-3000:]}")
        return out.stdout

    def command(self, name: str) -> list[str]:
        if name == "web":
            threads = str(self.web_threads)
            return [
                str(BIN / "gunicorn"),
                "-w",
                "1",
                "--threads",
                threads,
                "-b",
                f"127.0.0.1:{self.web_port}",
                "wsgi:app",
            ]
        argv = shlex.split(procfile()[name].replace("$REDIS_URL", self.redis_url))
        if argv[0] in ("rq", "flask", "gunicorn"):
            argv[0] = str(BIN / argv[0])
        return argv

    def start(self, name: str) -> None:
        log = open(self.logs / f"{name}.log", "a")  # noqa: SIM115 - the child owns it
        self.procs[name] = subprocess.Popen(
            self.command(name), cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        log.close()

    def kill(self, name: str) -> None:
        """SIGKILL the process and its children (an RQ work horse dies with its worker)."""
        proc = self.procs[name]
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        self.kills[name] = self.kills.get(name, 0) + 1

    def stop(self, name: str) -> None:
        proc = self.procs.pop(name)
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(15)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()

    def alive(self, name: str) -> bool:
        return self.procs[name].poll() is None

    # -- waiting ---------------------------------------------------------------------------------

    @staticmethod
    def _wait_port(port: int, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.3).close()
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"nothing listens on 127.0.0.1:{port}")

    @staticmethod
    def _wait_http(url: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(url, timeout=2).read()
                return
            except OSError:
                time.sleep(0.3)
        raise RuntimeError(f"{url} did not answer (see bench/results/*-logs/web.log)")

    def app(self):
        """A tradeapp built in this process on the stack's database and Redis (for setup and checks)."""
        from tradeapp import create_app

        saved = dict(os.environ)
        os.environ.update(self.env)
        try:
            return create_app()
        finally:
            os.environ.clear()
            os.environ.update(saved)
