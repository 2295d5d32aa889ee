"""Staff ledger pages: reconciliation report and a customer's ledger."""

from decimal import Decimal

from sqlalchemy import text

from tradeapp.services import ledger
from tradeapp.services.ledger import Leg


def _fund(db, user, amount="125.50"):
    wallet = ledger.wallet_for(user, "USD")
    ledger.post(
        "deposit",
        [Leg(wallet, Decimal(amount)), Leg(ledger.platform_account("clearing:bank", "USD"), -Decimal(amount))],
        memo="Bank deposit",
    )
    db.session.commit()
    return wallet


def test_report_shows_totals_and_clean_state(db, staff_client_factory, user):
    _fund(db, user)
    client, _ = staff_client_factory("finance")
    html = client.get("/staff/ledger/").get_data(as_text=True)
    assert "Every entry balances" in html
    assert "125.50" in html and "clearing:bank" in html


def test_report_lists_drift(db, staff_client_factory, user):
    wallet = _fund(db, user)
    db.session.execute(text("UPDATE wallets SET balance = :b WHERE id = :id"), {"b": "1", "id": wallet.id})
    db.session.commit()
    client, _ = staff_client_factory("finance")
    html = client.get("/staff/ledger/").get_data(as_text=True)
    assert "differences found" in html and "postings say" in html


def test_user_ledger_running_balance_and_htmx_fragment(db, staff_client_factory, user):
    _fund(db, user, "100")
    _fund(db, user, "25")
    client, _ = staff_client_factory("finance")
    html = client.get(f"/staff/ledger/users/{user.id}").get_data(as_text=True)
    assert "125.00" in html and "Bank deposit" in html
    fragment = client.get(f"/staff/ledger/users/{user.id}?currency=USD", headers={"HX-Request": "true"})
    assert fragment.status_code == 200 and "<html" not in fragment.get_data(as_text=True)
    assert client.get("/staff/ledger/users/999999").status_code == 404


def test_roles_without_ledger_view_are_refused(db, staff_client_factory, logged_in_client):
    client, _ = staff_client_factory("support")
    assert client.get("/staff/ledger/").status_code == 403
    assert logged_in_client.get("/staff/ledger/").status_code == 403
