"""One money format in messages, notifications and e-mails: the currency's decimals, thousands separators."""

from decimal import Decimal

from tradeapp.templating import money, money_text


def test_money_text_uses_the_currencys_precision_and_separators():
    assert money_text(Decimal("100.000000000000000000"), "USD") == "100.00 USD"
    assert money_text(Decimal("90196.8312"), "USD") == "90,196.83 USD"
    assert money_text(Decimal("1.5"), "BTC") == f"{money(Decimal('1.5'), 'BTC')} BTC"
    assert money_text(Decimal("1234567.1"), "EUR") == "1,234,567.10 EUR"


def test_withdrawal_notifications_format_the_amount(app, monkeypatch):
    from types import SimpleNamespace

    from tradeapp.services import withdrawals

    sent = []
    w = SimpleNamespace(amount=Decimal("2500.000000000000000000"), currency="USD")
    monkeypatch.setattr(withdrawals, "_tell_user", lambda uow, w, message, *a: sent.append(message))
    withdrawals._notify_completed(None, w)
    withdrawals._notify_failed(None, w)
    assert sent == [
        "Your withdrawal of 2,500.00 USD was sent.",
        "Your withdrawal of 2,500.00 USD failed; the funds are available again.",
    ]
