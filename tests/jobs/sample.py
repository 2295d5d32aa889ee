"""Job functions for the tests (RQ imports jobs by dotted path, so they live in a module)."""

from flask import current_app
from sqlalchemy import select

from tradeapp.extensions import db
from tradeapp.jobs import job
from tradeapp.models import User


@job
def rename_user(user_id: int, username: str) -> str:
    """Write to the database through the app context the job wrapper provides."""
    user = db.session.get(User, user_id)
    user.username = username
    db.session.commit()
    return current_app.config["SQLALCHEMY_DATABASE_URI"].split(":", 1)[0]


@job
def count_users() -> int:
    return len(db.session.scalars(select(User.id)).all())


@job
def greet(user_id: int, nonce: str) -> int:
    """Write to the database, then tell the user over Socket.IO (from the work horse: its pid goes along)."""
    import os

    from tradeapp import realtime

    user = db.session.get(User, user_id)
    user.first_name = f"greeted-{nonce}"
    db.session.commit()
    realtime.emit_to_user(user_id, "job_greeting", {"nonce": nonce, "pid": os.getpid(), "attempt": 1})
    return os.getpid()


@job
def crash_once(user_id: int, nonce: str) -> int:
    """Die by SIGKILL on the first attempt (as an OOM kill would); greet the user on the next one."""
    import os
    import signal

    from tradeapp import realtime
    from tradeapp.jobs import redis_connection

    attempt = int(redis_connection().incr(f"tests:attempts:{nonce}"))
    if attempt == 1:
        os.kill(os.getpid(), signal.SIGKILL)
    realtime.emit_to_user(user_id, "job_greeting", {"nonce": nonce, "pid": os.getpid(), "attempt": attempt})
    return attempt
