"""Customer money pages: wallets overview, transfer form (HTMX, idempotent), history and CSV."""

import csv
import io
import re
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from tests.conftest import csrf_token
from tradeapp.models import JournalEntry, Transaction
from tradeapp.services import ledger
from tradeapp.services.ledger import Leg

D = Decimal
HTMX = {"HX-Request": "true"}


def fund(db, user, amount, currency="USD"):
    wallet = ledger.wallet_for(user, currency)
    clearing = ledger.platform_account("clearing:bank", currency)
    ledger.post("deposit", [Leg(wallet, D(amount)), Leg(clearing, -D(amount))], reference="test")
    db.session.commit()
    return wallet


def transfers_made(db) -> int:
    return db.session.scalar(select(func.count()).select_from(JournalEntry).where(JournalEntry.kind == "transfer"))


def field_error(html: str, field_id: str) -> str:
    match = re.search(rf'id="field-{field_id}".*?<ul class="field-errors">(.*?)</ul>', html, re.S)
    return match.group(1) if match else ""


@pytest.fixture()
def bob(create_user):
    return create_user(email="bob@example.com", username="bob")


@pytest.mark.parametrize("path", ["/wallets/", "/wallets/transfer", "/wallets/history", "/wallets/history.csv"])
def test_pages_need_login(client, path):
    r = client.get(path)
    assert r.status_code == 302 and r.headers["Location"].startswith("/auth/login?next=")
    r = client.get(path, headers=HTMX)
    assert r.status_code == 204 and r.headers["HX-Redirect"].startswith("/auth/login")


def test_transfer_post_needs_login_and_moves_nothing(client, db, user, bob):
    fund(db, user, "100")
    r = client.post("/wallets/transfer", data={"recipient": "bob", "currency": "USD", "amount": "1"})
    assert r.status_code in (302, 400)
    assert transfers_made(db) == 0


# -- wallets -----------------------------------------------------------------------------------------


def test_wallets_empty_state(logged_in_client):
    r = logged_in_client.get("/wallets/")
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    assert "No money here yet" in html
    assert 'href="/wallets/"' in html  # the nav link


def test_wallets_show_balances_held_available_and_usd_total(logged_in_client, db, user):
    wallet = fund(db, user, "1500.5")
    ledger.place_hold(wallet, D("500"), "withdrawal", "test")
    db.session.commit()
    fund(db, user, "0.25", "BTC")
    r = logged_in_client.get("/wallets/")
    html = r.get_data(as_text=True)
    usd_card = re.search(r'data-currency="USD".*?</section>', html, re.S).group(0)
    assert "1,500.50" in usd_card and "500.00" in usd_card and "1,000.50" in usd_card
    assert "≈ $1,500.50" in usd_card
    btc_card = re.search(r'data-currency="BTC".*?</section>', html, re.S).group(0)
    assert "0.25000000" in btc_card
    # BTC is valued from the (simulated) market price, so the total is more than the dollars.
    total = re.search(r"data-total-usd>\$([\d,]+\.\d\d)<", html).group(1)
    assert D(total.replace(",", "")) > D("1500.50")
    assert 'hx-trigger="socket:wallet_updated from:body' in html


def test_wallets_fragment_for_htmx(logged_in_client, db, user):
    fund(db, user, "10")
    r = logged_in_client.get("/wallets/", headers=HTMX)
    html = r.get_data(as_text=True)
    assert r.status_code == 200 and html.lstrip().startswith('<div id="wallets"')
    assert "<html" not in html and "10.00" in html
    assert "HX-Request" in r.headers.get("Vary", "")


def test_unpriced_currency_shows_a_dash(logged_in_client, db, user):
    fund(db, user, "5", "USDT")
    html = logged_in_client.get("/wallets/").get_data(as_text=True)
    usdt_card = re.search(r'data-currency="USDT".*?</section>', html, re.S).group(0)
    assert "—" in usdt_card
    assert "left out" in html


def test_usd_value_degrades_to_none_without_a_price(app, db, market, monkeypatch):
    from tradeapp.services.trading import prices

    def usd(amount, currency):
        converted = prices.convert(D(amount), currency, "USD")
        return converted.amount if converted is not None else None

    assert usd("12.34", "USD") == D("12.34")
    monkeypatch.setattr(prices, "last_quote", lambda symbol: {"last": "20000.00", "received_at": time.time()})
    assert usd("0.5", "BTC") == D("10000.00")

    def broken(symbol):
        raise ConnectionError("redis down")

    monkeypatch.setattr(prices, "last_quote", broken)
    monkeypatch.setitem(app.config, "MARKET_FEED", "ccxt")  # a real exchange is asked only about its pairs
    assert usd("0.5", "BTC") is None


# -- transfer ----------------------------------------------------------------------------------------


def transfer_form(client, **data) -> dict:
    html = client.get("/wallets/transfer").get_data(as_text=True)
    key = re.search(r'name="idempotency_key"[^>]*value="([0-9a-f]+)"', html)
    assert key, "the form carries an idempotency key"
    form = {
        "csrf_token": csrf_token(client, "/wallets/transfer"),
        "idempotency_key": key.group(1),
        "recipient": "bob",
        "currency": "USD",
        "amount": "12.50",
        "note": "",
    }
    form.update(data)
    return form


def test_transfer_form_sends_money_and_shows_a_receipt(logged_in_client, db, user, bob):
    fund(db, user, "100")
    r = logged_in_client.post("/wallets/transfer", data=transfer_form(logged_in_client, note="rent"), headers=HTMX)
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    assert html.lstrip().startswith('<form id="transfer-form"')
    assert "Sent <strong>12.50 USD</strong> to <strong>bob</strong>" in html
    sent = db.session.scalar(select(Transaction).where(Transaction.user_id == user.id))
    assert sent.reference_id in html and sent.notes == "rent"
    db.session.expire_all()
    assert ledger.wallet_for(bob, "USD").balance == D("12.50")
    assert ledger.check().ok


def test_transfer_form_without_htmx_renders_the_page(logged_in_client, db, user, bob):
    fund(db, user, "100")
    r = logged_in_client.post("/wallets/transfer", data=transfer_form(logged_in_client, recipient="bob@example.com"))
    assert r.status_code == 200 and "<html" in r.get_data(as_text=True)
    assert transfers_made(db) == 1


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"recipient": "ghost"}, "recipient", "No active customer"),
        ({"recipient": "alice"}, "recipient", "yourself"),
        ({"recipient": ""}, "recipient", "required"),
        ({"amount": "-1"}, "amount", "greater than zero"),
        ({"amount": "1.234"}, "amount", "decimal places"),
        ({"amount": "lots"}, "amount", "valid number"),
        ({"amount": "1000"}, "amount", ""),
        ({"currency": "XYZ"}, "currency", "Not a valid choice"),
    ],
)
def test_transfer_form_errors_inline_and_nothing_moves(logged_in_client, db, user, bob, data, field, message):
    fund(db, user, "100")
    form = transfer_form(logged_in_client, **data)
    r = logged_in_client.post("/wallets/transfer", data=form, headers=HTMX)
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    error = field_error(html, field)
    assert error and message in error, html[:3000]
    assert transfers_made(db) == 0
    # The re-rendered form carries a new key, so the corrected submit is a new request.
    new_key = re.search(r'name="idempotency_key"[^>]*value="([0-9a-f]+)"', html).group(1)
    assert new_key != form["idempotency_key"]


def test_double_submit_of_one_form_transfers_once(logged_in_client, db, user, bob):
    fund(db, user, "100")
    form = transfer_form(logged_in_client)
    first = logged_in_client.post("/wallets/transfer", data=form, headers=HTMX)
    second = logged_in_client.post("/wallets/transfer", data=form, headers=HTMX)
    assert first.status_code == second.status_code == 200
    assert second.headers["Idempotent-Replayed"] == "true"
    assert second.get_data(as_text=True) == first.get_data(as_text=True)
    assert transfers_made(db) == 1
    changed = logged_in_client.post("/wallets/transfer", data={**form, "amount": "1"}, headers=HTMX)
    assert changed.status_code == 422
    assert transfers_made(db) == 1


def test_transfer_without_csrf_is_refused(logged_in_client, db, user, bob):
    fund(db, user, "100")
    form = transfer_form(logged_in_client)
    del form["csrf_token"]
    r = logged_in_client.post("/wallets/transfer", data=form)
    assert r.status_code == 400
    assert transfers_made(db) == 0


def test_transfer_page_preselects_currency(logged_in_client):
    html = logged_in_client.get("/wallets/transfer?currency=btc").get_data(as_text=True)
    assert re.search(r'<option selected value="BTC">|<option value="BTC" selected>', html)


# -- history -----------------------------------------------------------------------------------------


def add_txn(db, user, type_="deposit", currency="USD", status="completed", amount="1", days_ago=0, **extra):
    n = db.session.scalar(select(func.count()).select_from(Transaction)) + 1
    txn = Transaction(
        user_id=user.id,
        transaction_type=type_,
        currency=currency,
        amount=D(amount),
        status=status,
        reference_id=f"REF-{n:04d}",
        created_at=datetime.now(UTC) - timedelta(days=days_ago),
        **extra,
    )
    db.session.add(txn)
    db.session.commit()
    return txn


def test_history_lists_my_transactions_newest_first(logged_in_client, db, user, bob):
    add_txn(db, user, days_ago=2, amount="5")
    add_txn(db, user, "withdrawal", days_ago=1, amount="3")
    add_txn(db, bob, amount="999")
    html = logged_in_client.get("/wallets/history").get_data(as_text=True)
    assert html.index("REF-0002") < html.index("REF-0001")
    assert "999.00" not in html and "2 transactions" in html


def test_history_filters_via_htmx(logged_in_client, db, user):
    add_txn(db, user, "deposit", "USD")
    add_txn(db, user, "withdrawal", "EUR", "pending")
    r = logged_in_client.get("/wallets/history?transaction_type=withdrawal&currency=EUR&status=pending", headers=HTMX)
    html = r.get_data(as_text=True)
    assert html.lstrip().startswith('<div id="history"') and "<html" not in html
    assert "REF-0002" in html and "REF-0001" not in html
    assert "history.csv?transaction_type=withdrawal&amp;currency=EUR&amp;status=pending" in html
    html = logged_in_client.get("/wallets/history?status=cancelled").get_data(as_text=True)
    assert "Nothing matches these filters" in html


def test_history_date_range_and_bad_filters(logged_in_client, db, user):
    add_txn(db, user, days_ago=10)
    add_txn(db, user, days_ago=1)
    since = (datetime.now(UTC) - timedelta(days=3)).date().isoformat()
    html = logged_in_client.get(f"/wallets/history?date_from={since}").get_data(as_text=True)
    assert "REF-0002" in html and "REF-0001" not in html
    r = logged_in_client.get("/wallets/history?date_from=someday&currency=XYZ")
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    assert "Use a date like" in html and "Unknown currency" in html


def test_history_pagination(logged_in_client, db, user):
    for _ in range(27):
        add_txn(db, user)
    html = logged_in_client.get("/wallets/history").get_data(as_text=True)
    assert "page 1 of 2" in html and "Older" in html and "REF-0027" in html and "REF-0001" not in html
    html = logged_in_client.get("/wallets/history?page=2", headers=HTMX).get_data(as_text=True)
    assert "REF-0001" in html and "REF-0027" not in html and "Newer" in html


def test_history_csv_export_uses_the_filters(logged_in_client, db, user, bob):
    fund(db, user, "100")
    from tradeapp.services import transfers

    transfers.transfer(user, "bob", "USD", "7.5", '=HYPERLINK("http://evil")')
    add_txn(db, user, "deposit", "EUR", amount="3")
    r = logged_in_client.get("/wallets/history.csv?transaction_type=transfer")
    assert r.status_code == 200 and r.mimetype == "text/csv"
    assert "attachment" in r.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(r.get_data(as_text=True))))
    assert len(rows) == 1
    row = rows[0]
    assert (row["transaction_type"], row["direction"], row["amount"], row["currency"]) == (
        "transfer",
        "out",
        "7.50",
        "USD",
    )
    assert row["counterparty"] == "bob" and row["notes"].startswith("'=")  # no formula injection
    everything = list(csv.DictReader(io.StringIO(logged_in_client.get("/wallets/history.csv").get_data(as_text=True))))
    assert len(everything) == 2
    assert logged_in_client.get("/wallets/history.csv?date_from=nope").status_code == 400
