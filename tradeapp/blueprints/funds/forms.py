"""Forms for the funds pages: they check shape; the services check the rules."""

from wtforms import SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from tradeapp.currencies import CURRENCIES
from tradeapp.forms import REQUIRED, BaseForm, IdempotentFormMixin, decimal_field, strip


class TransferForm(IdempotentFormMixin, BaseForm):
    recipient = StringField(
        "Recipient",
        validators=[DataRequired(REQUIRED), Length(max=254)],
        filters=[strip],
        render_kw={"placeholder": "Email address or username", "autocomplete": "off"},
    )
    currency = SelectField("Currency", choices=[(c.code, f"{c.code} · {c.name}") for c in CURRENCIES.values()])
    amount = decimal_field("Amount", required=True)
    note = TextAreaField(
        "Note (optional)", validators=[Optional(), Length(max=500)], filters=[strip], render_kw={"rows": 2}
    )
