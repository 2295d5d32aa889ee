"""Forms of the deposit pages and the staff queue: shapes only; the service checks amounts and rules."""

from wtforms import SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from tradeapp.currencies import CURRENCIES
from tradeapp.forms import BaseForm

AMOUNT_KW = {"inputmode": "decimal", "autocomplete": "off", "placeholder": "0.00"}


def _fiat_choices():
    return [(c.code, f"{c.code} · {c.name}") for c in CURRENCIES.values() if c.kind == "fiat"]


class CardDepositForm(BaseForm):
    currency = SelectField("Currency", choices=_fiat_choices, validators=[DataRequired()])
    amount = StringField(
        "Amount", validators=[DataRequired(message="Enter an amount."), Length(max=40)], render_kw=AMOUNT_KW
    )


class BankDepositForm(CardDepositForm):
    """Announce a transfer: the same fields as a card deposit."""


class SandboxPayForm(BaseForm):
    card_number = StringField(
        "Card number",
        validators=[DataRequired(message="Enter a test card number."), Length(max=30)],
        render_kw={"inputmode": "numeric", "autocomplete": "off", "placeholder": "4242 4242 4242 4242"},
    )


class CryptoDepositForm(BaseForm):
    currency = SelectField("Currency", validators=[DataRequired()])
    network = SelectField("Network", validators=[DataRequired()])
    amount = StringField(
        "Amount you sent", validators=[DataRequired(message="Enter an amount."), Length(max=40)], render_kw=AMOUNT_KW
    )
    tx_hash = StringField(
        "Transaction hash (optional)",
        validators=[Optional(), Length(max=80)],
        render_kw={"autocomplete": "off", "spellcheck": "false", "class": "mono"},
    )

    def set_networks(self, networks: dict[str, list[str]]) -> None:
        self.currency.choices = [(code, f"{code} · {CURRENCIES[code].name}") for code in networks]
        all_networks = sorted({n for nets in networks.values() for n in nets})
        self.network.choices = [(n, n.title()) for n in all_networks]


class ConfirmDepositForm(BaseForm):
    amount = StringField(
        "Amount received",
        validators=[Optional(), Length(max=40)],
        render_kw={**AMOUNT_KW, "placeholder": "as announced"},
    )
    tx_hash = StringField("Tx hash", validators=[Optional(), Length(max=80)], render_kw={"autocomplete": "off"})


class RejectDepositForm(BaseForm):
    reason = TextAreaField(
        "Reason",
        validators=[DataRequired(message="Give a reason: the customer will see it."), Length(max=500)],
        render_kw={"rows": 2},
    )
