"""Deposit pages: tabs, sandbox card payments, bank instructions, crypto address; the staff queue."""

import re
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from tests.conftest import csrf_token
from tradeapp.models import AuditLog
from tradeapp.models.funds import Deposit
from tradeapp.services import deposits, ledger

D = Decimal
HX = {"HX-Request": "true"}


def token(client) -> str:
    return csrf_token(client, "/deposits/")


def balance(user, currency="USD"):
    ledger_wallet = ledger.wallet_for(user, currency)
    return ledger_wallet.balance


def test_page_has_three_tabs_and_the_nav_link(logged_in_client, db):
    html = logged_in_client.get("/deposits/").get_data(as_text=True)
    for label in ("Card", "Bank transfer", "Crypto", "My deposits"):
        assert label in html
    assert 'href="/deposits/"' in html  # the customer nav
    assert "4242424242424242" not in html  # the test cards appear on the payment step


def test_tab_switch_over_htmx_returns_only_the_panel(logged_in_client, db):
    r = logged_in_client.get("/deposits/?tab=bank", headers=HX)
    html = r.get_data(as_text=True)
    assert r.status_code == 200 and html.lstrip().startswith('<section class="card" id="deposit-panel">')
    assert "Get transfer instructions" in html and "<html" not in html
    assert "HX-Request" in r.headers.get("Vary", "")


def test_anonymous_is_sent_to_login(client, db):
    r = client.get("/deposits/")
    assert r.status_code == 302 and "/auth/login" in r.headers["Location"]


def test_sandbox_card_payment_end_to_end(logged_in_client, db, user):
    t = token(logged_in_client)
    r = logged_in_client.post(
        "/deposits/card", data={"csrf_token": t, "currency": "USD", "amount": "12.00"}, headers=HX
    )
    html = r.get_data(as_text=True)
    assert r.status_code == 200 and "4242424242424242" in html and "4000000000000002" in html
    assert r.headers.get("HX-Trigger") == "depositsChanged"
    deposit = db.session.scalar(select(Deposit))
    pay = f"/deposits/{deposit.id}/pay"

    declined = logged_in_client.post(pay, data={"csrf_token": t, "card_number": "4000 0000 0000 0002"}, headers=HX)
    assert "declined" in declined.get_data(as_text=True)
    assert balance(user) == 0

    ok = logged_in_client.post(pay, data={"csrf_token": t, "card_number": "4242 4242 4242 4242"}, headers=HX)
    assert "is in your wallet" in ok.get_data(as_text=True)
    assert balance(user) == D("12.00")
    again = logged_in_client.post(pay, data={"csrf_token": t, "card_number": "4242424242424242"}, headers=HX)
    assert again.status_code == 200 and balance(user) == D("12.00")
    assert ledger.check().ok


def test_card_form_errors_are_inline_and_write_nothing(logged_in_client, db):
    t = token(logged_in_client)
    r = logged_in_client.post(
        "/deposits/card", data={"csrf_token": t, "currency": "USD", "amount": "1.234"}, headers=HX
    )
    html = r.get_data(as_text=True)
    assert r.status_code == 200 and "at most 2 decimal places" in html and "has-error" in html
    r = logged_in_client.post("/deposits/card", data={"currency": "USD", "amount": "5"}, headers=HX)  # no CSRF
    assert db.session.scalar(select(func.count()).select_from(Deposit)) == 0


def test_bank_announcement_shows_instructions_with_the_reference(logged_in_client, db, app):
    t = token(logged_in_client)
    r = logged_in_client.post("/deposits/bank", data={"csrf_token": t, "currency": "EUR", "amount": "300"}, headers=HX)
    html = r.get_data(as_text=True)
    deposit = db.session.scalar(select(Deposit))
    assert deposit.provider_ref in html and app.config["BANK_DETAILS"]["iban"] in html
    # the list (refreshed by HX-Trigger) shows it as pending and polls
    listing = logged_in_client.get("/deposits/mine", headers=HX).get_data(as_text=True)
    assert f"/deposits/{deposit.id}" in listing and "pending" in listing and "every 10s" in listing


def test_crypto_tab_shows_the_address_and_the_manual_confirmation_note(logged_in_client, db, user):
    html = logged_in_client.get("/deposits/?tab=crypto&currency=USDT&network=tron").get_data(as_text=True)
    address = deposits.crypto_address(user, "USDT", "tron").address
    assert address in html and "Chain watching is not automatic" in html and "Demo address format" in html
    t = token(logged_in_client)
    r = logged_in_client.post(
        "/deposits/crypto",
        data={"csrf_token": t, "currency": "USDT", "network": "tron", "amount": "50", "tx_hash": "12" * 32},
        headers=HX,
    )
    assert "Announced" in r.get_data(as_text=True)
    deposit = db.session.scalar(select(Deposit))
    assert deposit.provider_ref == "12" * 32 and deposit.status == "pending"


def test_someone_elses_deposit_is_404(logged_in_client, db, create_user):
    other = create_user()
    theirs = deposits.create_bank_deposit(other, "USD", "10")
    assert logged_in_client.get(f"/deposits/{theirs.id}").status_code == 404
    t = token(logged_in_client)
    assert (
        logged_in_client.post(
            f"/deposits/{theirs.id}/pay", data={"csrf_token": t, "card_number": "4242424242424242"}
        ).status_code
        == 404
    )


def test_stripe_page_widens_the_csp_only_there(logged_in_client, db, app):
    saved = {k: app.config[k] for k in ("PAYMENTS_PROVIDER", "STRIPE_PUBLISHABLE_KEY")}
    app.config.update(PAYMENTS_PROVIDER="stripe", STRIPE_PUBLISHABLE_KEY="pk_test_123")
    try:
        r = logged_in_client.get("/deposits/")
        assert "https://js.stripe.com" in r.headers["Content-Security-Policy"]
        assert 'src="https://js.stripe.com/v3/"' in r.get_data(as_text=True)
        other = logged_in_client.get("/account/")
        assert "js.stripe.com" not in other.headers.get("Content-Security-Policy", "")
    finally:
        app.config.update(saved)
    assert "js.stripe.com" not in logged_in_client.get("/deposits/").headers["Content-Security-Policy"]


# -- staff queue ----------------------------------------------------------------------------------


@pytest.fixture()
def finance_client(staff_client_factory):
    return staff_client_factory("finance")


def staff_token(client) -> str:
    html = client.get("/staff/deposits/").get_data(as_text=True)
    return re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html).group(1)


def test_queue_lists_pending_oldest_first_and_confirm_swaps_the_row(finance_client, db, user):
    client, staff = finance_client
    first = deposits.create_bank_deposit(user, "USD", "100")
    second = deposits.create_crypto_deposit(user, "BTC", "bitcoin", "0.5")
    html = client.get("/staff/deposits/").get_data(as_text=True)
    assert html.index(first.provider_ref) < html.index(second.payment_details["address"])
    assert 'data-counter="deposits"' in html and "Deposits" in html

    t = staff_token(client)
    r = client.post(f"/staff/deposits/{first.id}/confirm", data={"csrf_token": t, "amount": "99.90"}, headers=HX)
    row = r.get_data(as_text=True)
    assert r.status_code == 200 and row.lstrip().startswith(f'<tr id="deposit-row-{first.id}"') and "completed" in row
    assert balance(user) == D("99.90")

    r = client.post(f"/staff/deposits/{second.id}/confirm", data={"csrf_token": t, "tx_hash": "bad"}, headers=HX)
    assert r.status_code == 422 and "64 hexadecimal" in r.get_data(as_text=True)
    r = client.post(f"/staff/deposits/{second.id}/reject", data={"csrf_token": t, "reason": ""}, headers=HX)
    assert r.status_code == 422
    r = client.post(f"/staff/deposits/{second.id}/reject", data={"csrf_token": t, "reason": "No such tx"}, headers=HX)
    assert r.status_code == 200 and "rejected" in r.get_data(as_text=True)
    actions = db.session.scalars(select(AuditLog.action).where(AuditLog.actor_id == staff.id)).all()
    assert "deposit.confirm" in actions and "deposit.reject" in actions
    assert ledger.check().ok


def test_staff_own_deposit_cannot_be_confirmed_from_the_queue(finance_client, db):
    client, staff = finance_client
    own = deposits.create_bank_deposit(staff, "USD", "10")
    html = client.get("/staff/deposits/").get_data(as_text=True)
    assert "Your own deposit" in html
    r = client.post(f"/staff/deposits/{own.id}/confirm", data={"csrf_token": staff_token(client)}, headers=HX)
    assert r.status_code == 422 and "your own" in r.get_data(as_text=True)
    db.session.refresh(own)
    assert own.status == "pending"


def test_queue_without_htmx_redirects_with_a_flash(finance_client, db, user):
    client, _ = finance_client
    deposit = deposits.create_bank_deposit(user, "USD", "10")
    r = client.post(f"/staff/deposits/{deposit.id}/confirm", data={"csrf_token": staff_token(client)})
    assert r.status_code == 303
    assert "confirmed" in client.get("/staff/deposits/").get_data(as_text=True)


@pytest.mark.parametrize("role", ["support", "compliance"])
def test_other_staff_roles_are_refused(staff_client_factory, db, create_user, role):
    # One client per test: the suite's app context is shared by every client of a test,
    # so Flask-Login's cached user would leak from one client to the next.
    deposit = deposits.create_bank_deposit(create_user(), "USD", "10")
    client, _ = staff_client_factory(role)
    assert client.get("/staff/deposits/").status_code == 403
    assert client.post(f"/staff/deposits/{deposit.id}/confirm", data={}).status_code in (400, 403)
    db.session.refresh(deposit)
    assert deposit.status == "pending"


def test_customers_are_refused(logged_in_client, db, create_user):
    deposit = deposits.create_bank_deposit(create_user(), "USD", "10")
    assert logged_in_client.get("/staff/deposits/").status_code == 403
    assert logged_in_client.post(f"/staff/deposits/{deposit.id}/confirm", data={}).status_code in (400, 403)
    db.session.refresh(deposit)
    assert deposit.status == "pending"
