"""gunicorn settings of the ``web`` process (read automatically from the working directory).

HTTP on every core: ``WEB_CONCURRENCY`` worker processes (default: the number of cores), each
with ``WEB_THREADS`` threads (default 4, at or below the SQLAlchemy pool size). Workers share
nothing but PostgreSQL and Redis, so no sticky sessions are needed; browsers' Socket.IO
connections go to the separate ``realtime`` process (see README, Operations).
"""

import os

# every interface, as the Procfile's other processes: the reverse proxy or platform router is in front
bind = f"{os.environ.get('HOST', '0.0.0.0')}:{os.environ.get('PORT', '5000')}"  # noqa: S104
workers = int(os.environ.get("WEB_CONCURRENCY") or os.cpu_count() or 1)
threads = int(os.environ.get("WEB_THREADS") or 4)
worker_class = "gthread"
# No keep-alive by default: each answer closes its connection and the next request goes to whichever
# worker accepts it first, which is the least busy one. A kept-alive connection stays with the worker
# that accepted it, and a few long-lived ones (a proxy's pool, a load generator) can leave one worker
# with most of them: with 16 kept-alive clients on 2 workers, one worker took 97 % of the CPU and
# transfers fell from 395/s to 273/s (bench/README.md). WEB_KEEPALIVE=N (seconds) turns it back on.
keepalive = int(os.environ.get("WEB_KEEPALIVE") or 0)
timeout = int(os.environ.get("WEB_TIMEOUT") or 30)
