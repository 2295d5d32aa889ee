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
