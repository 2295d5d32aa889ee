"""Staff accounts are not customers: no transfers to or from them, and no wallet appears for them."""

from decimal import Decimal

import pytest
from sqlalchemy import func, select

from tests.api.helpers import assert_error
from tests.conftest import ApiClient
from tradeapp.models import JournalEntry, Wallet
from tradeapp.services import ledger
from tradeapp.services.ledger import Leg
from tradeapp.services.tokens import issue_tokens


def _fund(db, user, amount):
    wallet = ledger.wallet_for(user, "USD")
    ledger.post(
        "deposit",
        [Leg(wallet, Decimal(amount)), Leg(ledger.platform_account("clearing:bank", "USD"), -Decimal(amount))],
        reference="t",
    )
    db.session.commit()


@pytest.mark.parametrize("role", ["admin", "finance", "support"])
@pytest.mark.parametrize("field", ["to_email", "to_username"])
def test_customer_cannot_send_to_a_staff_account(db, user, auth_api_client, create_staff, role, field):
    staff = create_staff(role=role)
    _fund(db, user, "100")
    entries = db.session.scalar(select(func.count()).select_from(JournalEntry))
    target = staff.email if field == "to_email" else staff.username
    r = auth_api_client.post("/api/v1/transfers/", json={field: target, "currency": "USD", "amount": "10"})
    assert_error(r, 400, "recipient_is_staff", [field])
    assert db.session.scalar(select(func.count()).select_from(JournalEntry)) == entries
    assert db.session.scalar(select(Wallet).where(Wallet.user_id == staff.id)) is None


def test_staff_cannot_send_transfers(app, db, user, create_staff):
    staff = create_staff(role="admin")
    api = ApiClient(app.test_client(), issue_tokens(staff)["access"])
    r = api.post("/api/v1/transfers/", json={"to_email": user.email, "currency": "USD", "amount": "10"})
    assert_error(r, 400, "sender_is_staff")
    assert db.session.scalar(select(Wallet).where(Wallet.user_id == staff.id)) is None


def test_transfer_form_to_staff_shows_the_error(logged_in_client, db, user, create_staff):
    import re

    staff = create_staff(role="finance")
    _fund(db, user, "100")
    html = logged_in_client.get("/wallets/transfer").get_data(as_text=True)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html) or re.search(r'"X-CSRFToken": "([^"]+)"', html)
    r = logged_in_client.post(
        "/wallets/transfer",
        data={"csrf_token": token.group(1), "recipient": staff.email, "currency": "USD", "amount": "10"},
    )
    assert r.status_code in (200, 400)
    assert "Staff accounts cannot receive transfers." in r.get_data(as_text=True)
