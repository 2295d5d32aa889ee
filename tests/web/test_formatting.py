"""The one money filter and the one age helper, on pages and in e-mails."""

from datetime import timedelta
from decimal import Decimal
from types import SimpleNamespace

import pytest

from tradeapp.mail import build_message
from tradeapp.models.types import utcnow
from tradeapp.templating import age, money


@pytest.mark.parametrize(
    ("value", "kwargs", "shown"),
    [
        (Decimal("90196.83"), {"currency": "USD"}, "90,196.83"),
        (Decimal("100.000000000000000000"), {"currency": "USD"}, "100.00"),
        ("1500.5", {"currency": "usd"}, "1,500.50"),
        (Decimal("0.25"), {"currency": "BTC"}, "0.25000000"),
        (Decimal("95123.4"), {"places": 2}, "95,123.40"),
        (Decimal("5000"), {"places": 2}, "5,000.00"),
        (Decimal("0.50000"), {"trim": True}, "0.5"),
        (Decimal("12000.000"), {"trim": True}, "12,000"),
        (Decimal("7.50"), {"currency": "XYZ"}, "7.5"),
        (None, {"currency": "USD"}, "—"),
        ("", {}, "—"),
    ],
)
def test_money_shows_the_currency_precision_with_thousands_separators(value, kwargs, shown):
    assert money(value, **kwargs) == shown


@pytest.mark.parametrize(
    ("waited", "shown"),
    [
        (timedelta(minutes=4, seconds=30), "4 min"),
        (timedelta(hours=2, minutes=5), "2 h 5 min"),
        (timedelta(hours=3), "3 h"),
        (timedelta(days=3, hours=4), "3 d 4 h"),
        (timedelta(days=2), "2 d"),
        (timedelta(minutes=-5), "0 min"),
    ],
)
def test_age_tells_how_long_something_waited(waited, shown):
    now = utcnow()
    assert age(now - waited, now=now) == shown


def test_withdrawal_emails_show_formatted_amounts(app):
    withdrawal = SimpleNamespace(
        amount=Decimal("12500.000000000000000000"),
        fee=Decimal("2.500000000000000000"),
        currency="USD",
        transaction=SimpleNamespace(reference_id="WD-1"),
    )
    user = SimpleNamespace(first_name="Ada", username="ada")
    with app.test_request_context():
        for template in ("withdrawal_completed", "withdrawal_failed", "withdrawal_rejected"):
            body = build_message(
                "ada@example.com", "Withdrawal", template, user=user, withdrawal=withdrawal, reason="test"
            ).get_content()
            assert "12,500.00 USD" in body, template
            assert "000000" not in body, template
            if template == "withdrawal_completed":
                assert "Fee: 2.50 USD." in body
