"""Idempotency-Key on money-moving POSTs: replay, reuse with another body, races, 5xx, purge."""

import json
import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from tests.conftest import PG_URL
from tradeapp.models import IdempotencyRecord, JournalEntry, Transaction
from tradeapp.models.types import utcnow
from tradeapp.services import idempotency, ledger
from tradeapp.services.ledger import Leg

from .helpers import assert_error

D = Decimal
URL = "/api/v1/transfers/"


def fund(db, user, amount, currency="USD"):
    wallet = ledger.wallet_for(user, currency)
    clearing = ledger.platform_account("clearing:bank", currency)
    ledger.post("deposit", [Leg(wallet, D(amount)), Leg(clearing, -D(amount))], reference="test")
    db.session.commit()


def transfers_made(db) -> int:
    return db.session.scalar(select(func.count()).select_from(JournalEntry).where(JournalEntry.kind == "transfer"))


@pytest.fixture()
def bob(create_user):
    return create_user(email="bob@example.com", username="bob")


@pytest.fixture()
def funded(db, user, bob):
    fund(db, user, "100")
    return user


PAYLOAD = {"to_username": "bob", "currency": "USD", "amount": "10"}


def test_same_key_and_body_replays_the_first_response_without_a_second_transfer(db, funded, auth_api_client):
    headers = {"Idempotency-Key": "order-1"}
    first = auth_api_client.post(URL, json=PAYLOAD, headers=headers)
    assert first.status_code == 201 and "Idempotent-Replayed" not in first.headers
    second = auth_api_client.post(URL, json=PAYLOAD, headers=headers)
    assert second.status_code == 201
    assert second.headers["Idempotent-Replayed"] == "true"
    assert second.mimetype == "application/json"
    assert second.get_json() == first.get_json()
    assert transfers_made(db) == 1
    db.session.expire_all()
    assert ledger.wallet_for(funded, "USD").balance == D("90")
    record = db.session.scalar(select(IdempotencyRecord))
    assert (record.user_id, record.key, record.method, record.path) == (funded.id, "order-1", "POST", URL)
    assert record.status_code == 201 and json.loads(record.response_body) == first.get_json()
    assert ledger.check().ok


def test_same_key_with_another_body_is_422(db, funded, auth_api_client):
    headers = {"Idempotency-Key": "order-2"}
    assert auth_api_client.post(URL, json=PAYLOAD, headers=headers).status_code == 201
    r = auth_api_client.post(URL, json={**PAYLOAD, "amount": "11"}, headers=headers)
    assert_error(r, 422, "idempotency_key_reused")
    assert transfers_made(db) == 1


def test_without_a_key_every_request_counts(db, funded, auth_api_client):
    assert auth_api_client.post(URL, json=PAYLOAD).status_code == 201
    assert auth_api_client.post(URL, json=PAYLOAD).status_code == 201
    assert transfers_made(db) == 2
    assert db.session.scalar(select(func.count()).select_from(IdempotencyRecord)) == 0


def test_keys_are_scoped_per_user(db, funded, bob, auth_api_client):
    from tradeapp.services.tokens import issue_tokens

    fund(db, bob, "100")
    headers = {"Idempotency-Key": "shared"}
    assert auth_api_client.post(URL, json=PAYLOAD, headers=headers).status_code == 201
    auth_api_client.token = issue_tokens(bob)["access"]
    r = auth_api_client.post(URL, json={**PAYLOAD, "to_username": "alice"}, headers=headers)
    assert r.status_code == 201 and "Idempotent-Replayed" not in r.headers
    assert transfers_made(db) == 2


def test_a_4xx_answer_is_replayed_too(db, funded, auth_api_client):
    headers = {"Idempotency-Key": "too-much"}
    body = {**PAYLOAD, "amount": "1000"}
    first = auth_api_client.post(URL, json=body, headers=headers)
    assert_error(first, 400, "insufficient_funds")
    second = auth_api_client.post(URL, json=body, headers=headers)
    assert_error(second, 400, "insufficient_funds")
    assert second.headers["Idempotent-Replayed"] == "true"
    assert db.session.scalar(select(func.count()).select_from(Transaction)) == 0


def test_key_longer_than_255_is_400(db, funded, auth_api_client):
    r = auth_api_client.post(URL, json=PAYLOAD, headers={"Idempotency-Key": "k" * 256})
    assert_error(r, 400, "validation_error", fields=["Idempotency-Key"])
    assert transfers_made(db) == 0
    assert auth_api_client.post(URL, json=PAYLOAD, headers={"Idempotency-Key": "k" * 255}).status_code == 201


def test_unauthenticated_request_with_a_key_is_401_and_stores_nothing(db, api_client):
    r = api_client.post(URL, json=PAYLOAD, headers={"Idempotency-Key": "anon"})
    assert_error(r, 401)
    assert db.session.scalar(select(func.count()).select_from(IdempotencyRecord)) == 0


def test_a_request_still_in_flight_is_409(db, funded, auth_api_client):
    body = json.dumps(PAYLOAD).encode()
    db.session.add(
        IdempotencyRecord(
            user_id=funded.id,
            key="busy",
            method="POST",
            path=URL,
            request_hash=idempotency.request_hash(body),
            status_code=None,
        )
    )
    db.session.commit()
    r = auth_api_client.client.post(
        URL,
        data=body,
        headers={
            "Authorization": f"Bearer {auth_api_client.token}",
            "Content-Type": "application/json",
            "Idempotency-Key": "busy",
        },
    )
    assert_error(r, 409, "idempotency_in_progress")
    assert transfers_made(db) == 0


def test_a_server_error_forgets_the_key_so_the_client_can_retry(db, funded, auth_api_client, monkeypatch, app):
    from tradeapp.services import transfers

    real = transfers.transfer
    calls = {"n": 0}

    def flaky(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("database went away")
        return real(*args, **kwargs)

    monkeypatch.setattr(transfers, "transfer", flaky)
    monkeypatch.setitem(app.config, "PROPAGATE_TEST_ERRORS", False)
    headers = {"Idempotency-Key": "retry-me"}
    first = auth_api_client.post(URL, json=PAYLOAD, headers=headers)
    assert first.status_code == 500
    assert db.session.scalar(select(func.count()).select_from(IdempotencyRecord)) == 0
    second = auth_api_client.post(URL, json=PAYLOAD, headers=headers)
    assert second.status_code == 201 and "Idempotent-Replayed" not in second.headers
    assert transfers_made(db) == 1


def test_purge_deletes_records_older_than_a_day(db, user):
    now = utcnow()
    for key, age in (("old", 25), ("fresh", 1)):
        db.session.add(
            IdempotencyRecord(
                user_id=user.id,
                key=key,
                method="POST",
                path=URL,
                request_hash="0" * 64,
                status_code=201,
                response_body="{}",
                created_at=now - timedelta(hours=age),
            )
        )
    db.session.commit()
    assert idempotency.purge_idempotency_records() == 1
    assert db.session.scalars(select(IdempotencyRecord.key)).all() == ["fresh"]
    assert idempotency.purge_idempotency_records(older_than_hours=0) == 1


@pytest.mark.skipif(not PG_URL, reason="concurrent requests need PostgreSQL")
def test_two_threads_same_key_exactly_one_transfer(app, db, funded):
    from tradeapp.services.tokens import issue_tokens

    token = issue_tokens(funded)["access"]
    n = 8
    barrier = threading.Barrier(n)
    results: list = [None] * n

    def worker(i):
        client = app.test_client()
        barrier.wait(10)
        r = client.post(URL, json=PAYLOAD, headers={"Authorization": f"Bearer {token}", "Idempotency-Key": "race"})
        results[i] = (r.status_code, r.headers.get("Idempotent-Replayed"), (r.get_json() or {}).get("code"))

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    originals = [r for r in results if r[0] == 201 and r[1] is None]
    assert len(originals) == 1, results
    for status, replayed, code in results:
        assert (status == 201 and (replayed == "true" or replayed is None)) or (
            status == 409 and code == "idempotency_in_progress"
        ), results
    db.session.expire_all()
    assert transfers_made(db) == 1
    assert ledger.wallet_for(funded, "USD").balance == D("90")
    assert ledger.check().ok
