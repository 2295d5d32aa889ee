"""Forms of the staff orders and trades pages: list filters and the staff cancel."""

from wtforms import DateField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from tradeapp.forms import BaseForm, strip
from tradeapp.models.trading import ORDER_SIDES, ORDER_STATUSES, ORDER_TYPES
from tradeapp.services.trading.queries import LIVE


def _label(value: str) -> str:
    return value.replace("_", " ").capitalize()


class TradeFilterForm(BaseForm):
    """Filters read from the query string: no CSRF, nothing changes."""

    class Meta:
        csrf = False

    q = StringField("User", validators=[Optional(), Length(max=100)], filters=[strip])
    pair = SelectField("Pair", choices=[("", "Any pair")], default="")
    side = SelectField("Side", choices=[("", "Any side")] + [(s, _label(s)) for s in ORDER_SIDES], default="")
    date_from = DateField("From", validators=[Optional()])
    date_to = DateField("To", validators=[Optional()])

    def __init__(self, *args, symbols: list[str] = (), **kwargs):
        super().__init__(*args, **kwargs)
        self.pair.choices = [("", "Any pair")] + [(s, s) for s in symbols]

    def value(self, name: str):
        """The field's value, or empty when it did not validate (a hand-edited URL is ignored)."""
        field = self[name]
        if field.errors:
            return None if isinstance(field, DateField) else ""
        return field.data or (None if isinstance(field, DateField) else "")


class OrderFilterForm(TradeFilterForm):
    status = SelectField(
        "Status",
        choices=[("", "Any status"), (LIVE, "Live (open, part-filled)")] + [(s, _label(s)) for s in ORDER_STATUSES],
        default="",
    )
    order_type = SelectField("Type", choices=[("", "Any type")] + [(t, _label(t)) for t in ORDER_TYPES], default="")


class StaffCancelForm(BaseForm):
    """Cancel a customer's live order; the reason goes to the audit log and the order."""

    reason = TextAreaField(
        "Reason",
        validators=[
            DataRequired(message="Say why: it goes to the audit log and the customer sees it."),
            Length(min=3, max=200, message="Use 3 to 200 characters."),
        ],
        filters=[strip],
        render_kw={"rows": 2, "placeholder": "e.g. customer request, ticket #123"},
    )
