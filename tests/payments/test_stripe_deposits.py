"""Card deposits through the real stripe library against localstripe, and signed webhooks."""

import contextlib
import threading
import time
from decimal import Decimal

import pytest
import stripe
from sqlalchemy import func, select
from werkzeug.serving import make_server

from tests.payments.conftest import event, post_event, signed
from tradeapp.models.funds import Deposit, Transaction
from tradeapp.services import deposits, ledger
from tradeapp.services.tokens import issue_tokens

D = Decimal


def balance(user, currency="USD"):
    return ledger.wallet_for(user, currency).balance


def clean():
    report = ledger.check()
    assert report.ok, report.problems()


def pay(client, intent_id: str, payment_method: str = "pm_card_visa"):
    """What Stripe.js does in the browser: attach a card and confirm."""
    client.v1.payment_intents.update(intent_id, params={"payment_method": payment_method})
    return client.v1.payment_intents.confirm(intent_id)


def _pi(client, intent_id):
    return client.v1.payment_intents.retrieve(intent_id).to_dict()


# -- localstripe: the real protocol ---------------------------------------------------------------


def test_api_creates_a_payment_intent_and_the_signed_webhook_completes_it_once(app, db, user, stripe_mode):
    api = app.test_client()
    token = issue_tokens(user)["access"]
    r = api.post(
        "/api/v1/deposits/",
        json={"payment_method": "card", "currency": "USD", "amount": "42.50"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert r.status_code == 201, r.get_json()
    body = r.get_json()
    intent_id = body["payment_details"]["payment_intent"]
    assert intent_id.startswith("pi_") and body["payment_details"]["client_secret"].startswith(intent_id)
    assert body["status"] == "pending" and body["transaction"]["amount"] == "42.50"

    pi = _pi(stripe_mode, intent_id)
    assert pi["amount"] == 4250 and pi["currency"] == "usd" and pi["metadata"]["deposit_id"] == str(body["id"])

    confirmed = pay(stripe_mode, intent_id)
    assert confirmed["status"] == "succeeded"
    payload = event("payment_intent.succeeded", {**_pi(stripe_mode, intent_id), "amount_received": 4250})

    first = post_event(api, payload)
    replay = post_event(api, payload)
    assert first.status_code == 200 and first.get_json()["outcome"] == "completed"
    assert replay.status_code == 200
    assert balance(user) == D("42.50")
    assert ledger.check().entries == 1
    deposit = db.session.get(Deposit, body["id"])
    assert deposit.status == "completed" and deposit.transaction.external_id == intent_id
    clean()


def test_declined_card_fails_the_deposit(app, db, user, stripe_mode):
    created = deposits.create_card_deposit(user, "EUR", "15")
    intent_id = created.deposit.provider_ref
    # A synchronous decline raises; with automatic_async capture it is reported on the intent instead.
    with contextlib.suppress(stripe.CardError):
        pay(stripe_mode, intent_id, "pm_card_chargeCustomerFail")  # localstripe: 4000000000000341
    pi = _pi(stripe_mode, intent_id)
    assert pi["status"] == "requires_payment_method" and pi["last_payment_error"]["code"] == "card_declined"
    r = post_event(app.test_client(), event("payment_intent.payment_failed", pi))
    assert r.status_code == 200 and r.get_json()["outcome"] == "failed"
    deposit = db.session.get(Deposit, created.deposit.id)
    db.session.refresh(deposit)
    assert deposit.status == "failed" and deposit.transaction.status == "failed"
    assert balance(user, "EUR") == 0 and ledger.check().entries == 0


def test_refund_through_localstripe_and_charge_refunded_webhook(app, db, user, stripe_mode):
    created = deposits.create_card_deposit(user, "USD", "30")
    intent_id = created.deposit.provider_ref
    pay(stripe_mode, intent_id)
    api = app.test_client()
    post_event(api, event("payment_intent.succeeded", {**_pi(stripe_mode, intent_id), "amount_received": 3000}))
    assert balance(user) == D("30.00")

    stripe_mode.v1.refunds.create(params={"payment_intent": intent_id})
    charge_id = _pi(stripe_mode, intent_id)["latest_charge"]
    charge_id = charge_id["id"] if isinstance(charge_id, dict) else charge_id
    charge = stripe_mode.v1.charges.retrieve(charge_id).to_dict()
    assert charge["refunded"] is True and charge["amount_refunded"] == 3000

    payload = event("charge.refunded", charge)
    assert post_event(api, payload).get_json()["outcome"] == "refunded"
    assert post_event(api, payload).status_code == 200  # replay
    deposit = db.session.get(Deposit, created.deposit.id)
    db.session.refresh(deposit)
    assert deposit.status == "refunded"
    assert balance(user) == 0
    assert db.session.scalar(select(func.count()).select_from(Transaction).where(Transaction.direction == -1)) == 1
    clean()


def test_localstripe_delivers_the_signed_webhook_to_the_running_app(app, db, user, stripe_mode, localstripe_url):
    """End to end: localstripe itself signs and posts payment_intent.succeeded to our server."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        import requests

        hook = f"http://127.0.0.1:{server.server_port}/webhooks/stripe"
        r = requests.post(
            f"{localstripe_url}/_config/webhooks/tradeapp",
            data={"url": hook, "secret": app.config["STRIPE_WEBHOOK_SECRET"], "events[]": ["payment_intent.succeeded"]},
            timeout=10,
        )
        assert r.status_code == 200, r.text
        created = deposits.create_card_deposit(user, "GBP", "12.34")
        deposit_id = created.deposit.id
        pay(stripe_mode, created.deposit.provider_ref)
        status = None
        for _ in range(150):  # localstripe waits a second before delivering
            db.session.rollback()  # end our read transaction: SQLite's BEGIN IMMEDIATE would block the server
            status = db.session.scalar(select(Deposit.status).where(Deposit.id == deposit_id))
            db.session.rollback()
            if status == "completed":
                break
            time.sleep(0.1)
        assert status == "completed"
        assert balance(user, "GBP") == D("12.34")
        clean()
    finally:
        import requests

        requests.post(
            f"{localstripe_url}/_config/webhooks/tradeapp",
            data={"url": "http://127.0.0.1:9/", "secret": "x", "events[]": ["none"]},
            timeout=10,
        )
        server.shutdown()
        thread.join(10)


# -- signed payloads: verification and idempotency --------------------------------------------------


def _sandbox_deposit(user, amount="20"):
    # An intent id in Stripe's format, recorded as a Stripe deposit, without calling Stripe.
    deposit = deposits.create_card_deposit(user, "USD", amount, provider_name="sandbox").deposit
    from tradeapp.extensions import db

    deposit.provider = "stripe"
    deposit.provider_ref = "pi_" + deposit.provider_ref.removeprefix("sbx_pi_")
    db.session.commit()
    return deposit


def _succeeded(deposit, minor=2000):
    return event(
        "payment_intent.succeeded",
        {
            "id": deposit.provider_ref,
            "object": "payment_intent",
            "amount": minor,
            "amount_received": minor,
            "currency": "usd",
            "status": "succeeded",
            "metadata": {"deposit_id": str(deposit.id)},
        },
    )


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param(lambda p: {}, id="missing"),
        pytest.param(lambda p: signed(p, "whsec_forged"), id="wrong-secret"),
        pytest.param(lambda p: {"Stripe-Signature": "t=1,v1=deadbeef"}, id="garbage"),
        pytest.param(lambda p: signed(p.replace(b'"amount": 2000', b'"amount": 9999')), id="other-body"),
    ],
)
def test_bad_signature_is_400_and_changes_nothing(app, db, user, webhook_secret, headers):
    deposit = _sandbox_deposit(user)
    payload = _succeeded(deposit)
    r = app.test_client().post("/webhooks/stripe", data=payload, headers=headers(payload))
    assert r.status_code == 400
    assert r.get_json()["code"] in ("invalid_signature", "invalid_payload")
    db.session.refresh(deposit)
    assert deposit.status == "pending" and balance(user) == 0 and ledger.check().entries == 0


def test_signature_of_another_body_is_refused(app, db, user, webhook_secret):
    deposit = _sandbox_deposit(user)
    honest = _succeeded(deposit, 100)
    forged = _succeeded(deposit, 2000)
    r = app.test_client().post("/webhooks/stripe", data=forged, headers=signed(honest))
    assert r.status_code == 400 and r.get_json()["code"] == "invalid_signature"
    assert balance(user) == 0


def test_webhook_without_a_configured_secret_is_refused(app, db, user):
    deposit = _sandbox_deposit(user)
    saved = app.config.get("STRIPE_WEBHOOK_SECRET")
    app.config["STRIPE_WEBHOOK_SECRET"] = ""
    try:
        r = post_event(app.test_client(), _succeeded(deposit))
    finally:
        app.config["STRIPE_WEBHOOK_SECRET"] = saved
    assert r.status_code == 400 and balance(user) == 0


def test_succeeded_completes_once_and_replays_are_no_ops(app, db, user, webhook_secret):
    deposit = _sandbox_deposit(user)
    payload = _succeeded(deposit)
    client = app.test_client()
    outcomes = [post_event(client, payload).get_json()["outcome"] for _ in range(3)]
    assert outcomes == ["completed"] * 3  # the answer stays the same; the effect happens once
    assert balance(user) == D("20.00") and ledger.check().entries == 1
    # a late failure event for the same intent does not undo it
    post_event(client, event("payment_intent.payment_failed", {"id": deposit.provider_ref, "last_payment_error": {}}))
    db.session.refresh(deposit)
    assert deposit.status == "completed"
    clean()


def test_unknown_events_and_intents_are_acknowledged_and_ignored(app, db, user, webhook_secret):
    client = app.test_client()
    r = post_event(client, event("customer.created", {"id": "cus_1", "object": "customer"}))
    assert r.status_code == 200 and r.get_json()["outcome"] == "ignored"
    r = post_event(
        client, event("payment_intent.succeeded", {"id": "pi_nobody", "amount_received": 100, "currency": "usd"})
    )
    assert r.status_code == 200 and r.get_json()["outcome"] == "unknown_intent"
    assert ledger.check().entries == 0


def test_invalid_json_with_a_valid_signature_is_400(app, db, webhook_secret):
    payload = b"not json"
    r = app.test_client().post("/webhooks/stripe", data=payload, headers=signed(payload))
    assert r.status_code == 400


def test_webhook_needs_no_csrf_token_but_pages_do(app, db, user, webhook_secret):
    from tests.conftest import web_login

    assert app.config["WTF_CSRF_ENABLED"]  # the suite runs with CSRF protection on, as production does
    deposit = _sandbox_deposit(user)
    r = post_event(app.test_client(), _succeeded(deposit))  # no session, no token: the signature is enough
    assert r.status_code == 200 and r.get_json()["outcome"] == "completed"
    assert balance(user) == D("20.00")
    # a logged-in customer's page form without its token is refused, and creates nothing
    page = app.test_client()
    web_login(page, user.email)
    before = db.session.scalar(select(func.count()).select_from(Deposit))
    r = page.post("/deposits/card", data={"currency": "USD", "amount": "10"})
    assert r.status_code == 400
    assert db.session.scalar(select(func.count()).select_from(Deposit)) == before
