"""Forms for the funds pages: they check shape; the services check the rules."""

import uuid

from flask_wtf import FlaskForm
from wtforms import HiddenField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from tradeapp.currencies import CURRENCIES

REQUIRED = "This field is required."


def _strip(value):
    return value.strip() if isinstance(value, str) else value


def new_idempotency_key() -> str:
    return uuid.uuid4().hex


class TransferForm(FlaskForm):
    recipient = StringField(
        "Recipient",
        validators=[DataRequired(REQUIRED), Length(max=254)],
        filters=[_strip],
        render_kw={"placeholder": "Email address or username", "autocomplete": "off"},
    )
    currency = SelectField("Currency", choices=[(c.code, f"{c.code} · {c.name}") for c in CURRENCIES.values()])
    amount = StringField(
        "Amount",
        validators=[DataRequired(REQUIRED), Length(max=40)],
        filters=[_strip],
        render_kw={"inputmode": "decimal", "placeholder": "0.00", "autocomplete": "off"},
    )
    note = TextAreaField(
        "Note (optional)", validators=[Optional(), Length(max=500)], filters=[_strip], render_kw={"rows": 2}
    )
    #: one key per rendered form: a double submit is replayed, never sent twice
    idempotency_key = HiddenField()

    def fresh_key(self) -> None:
        self.idempotency_key.data = new_idempotency_key()
