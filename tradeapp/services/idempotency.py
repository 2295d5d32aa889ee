"""Idempotency keys: remember the first response to a money-moving request and replay it.

A record is claimed (inserted with ``status_code`` NULL and committed) before the operation
runs, so a concurrent duplicate sees it and is refused; once the operation answered, its
status and body are stored and replayed to every retry with the same key and body.
"""

import hashlib
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from tradeapp.errors import Conflict, DomainError, ValidationFailed
from tradeapp.extensions import db
from tradeapp.models import IdempotencyRecord
from tradeapp.models.types import utcnow

MAX_KEY_LENGTH = 255


class IdempotencyKeyReused(DomainError):
    """The key was already used for a different request (another body, path or method)."""

    status = 422
    code = "idempotency_key_reused"


class IdempotencyInProgress(Conflict):
    """The first request with this key has not answered yet."""

    code = "idempotency_in_progress"


@dataclass(frozen=True)
class Claim:
    """The outcome of :func:`claim`: a new record to run the operation under, or a stored answer."""

    record_id: int
    replay: bool
    status_code: int | None = None
    response_body: str | None = None


def request_hash(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def check_key(key: str) -> str:
    """The key as given.

    :raise ValidationFailed: when it is longer than ``MAX_KEY_LENGTH``
    """
    if len(key) > MAX_KEY_LENGTH:
        raise ValidationFailed(
            f"The Idempotency-Key header must be at most {MAX_KEY_LENGTH} characters.",
            {"Idempotency-Key": [f"At most {MAX_KEY_LENGTH} characters."]},
        )
    return key


def _insert():
    return (pg_insert if db.engine.dialect.name == "postgresql" else sqlite_insert)(IdempotencyRecord)


def claim(user_id: int, key: str, method: str, path: str, body_hash: str) -> Claim:
    """Claim ``key`` for this request (commits), or return the stored answer to replay.

    :raise IdempotencyKeyReused: the key was used with another body, path or method (422)
    :raise IdempotencyInProgress: the first request with this key is still running (409)
    """
    check_key(key)
    inserted_id = db.session.scalar(
        _insert()
        .values(
            user_id=user_id,
            key=key,
            method=method,
            path=path[:255],
            request_hash=body_hash,
            status_code=None,
            response_body=None,
            created_at=utcnow(),
        )
        .on_conflict_do_nothing(index_elements=["user_id", "key"])
        .returning(IdempotencyRecord.id)
    )
    inserted = inserted_id is not None
    record = db.session.scalar(
        select(IdempotencyRecord)
        .where(IdempotencyRecord.user_id == user_id, IdempotencyRecord.key == key)
        .execution_options(populate_existing=True)
    )
    db.session.commit()
    if inserted:
        return Claim(record.id, replay=False)
    if (record.method, record.path, record.request_hash) != (method, path[:255], body_hash):
        raise IdempotencyKeyReused(
            "This Idempotency-Key was already used for a different request. Use a new key for a new request."
        )
    if record.status_code is None:
        raise IdempotencyInProgress("A request with this Idempotency-Key is still being processed. Retry shortly.")
    return Claim(record.id, replay=True, status_code=record.status_code, response_body=record.response_body)


def complete(record_id: int, status_code: int, body: str) -> None:
    """Store the answer the first request got (commits)."""
    db.session.execute(
        update(IdempotencyRecord)
        .where(IdempotencyRecord.id == record_id)
        .values(status_code=status_code, response_body=body)
    )
    db.session.commit()


def abandon(record_id: int) -> None:
    """Forget a claim whose request failed with a server error, so the client may retry (commits)."""
    db.session.execute(delete(IdempotencyRecord).where(IdempotencyRecord.id == record_id))
    db.session.commit()


def purge_idempotency_records(older_than_hours: int = 24) -> int:
    """Delete records older than ``older_than_hours``; returns how many (commits).

    Keys are only honoured for this long: a retry after that runs as a new request.
    Claims left in flight by a crashed process (status NULL) stay until then, answering 409,
    because whether their operation committed is unknown.
    """
    cutoff = utcnow() - timedelta(hours=older_than_hours)
    result = db.session.execute(delete(IdempotencyRecord).where(IdempotencyRecord.created_at < cutoff))
    db.session.commit()
    return result.rowcount or 0
