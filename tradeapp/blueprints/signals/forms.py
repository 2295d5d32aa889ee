"""Forms of the signals pages (customer and staff): they check shape; the services check the rules."""

from wtforms import BooleanField, SelectField, SelectMultipleField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from tradeapp.forms import REQUIRED, BaseForm, IdempotentFormMixin, decimal_field, strip
from tradeapp.market.base import TIMEFRAMES
from tradeapp.models.signals import PROVIDER_TYPES, SIGNAL_TYPES


class SubscribeForm(IdempotentFormMixin, BaseForm):
    """The confirm step: the charge is shown above it; a double click never charges twice."""

    auto_renew = BooleanField("Renew automatically before it ends", default=True)


class ExecuteForm(IdempotentFormMixin, BaseForm):
    """One-click execution: a quantity in the base currency or an amount in the quote currency."""

    quantity = decimal_field("Quantity", placeholder="0.01")
    amount = decimal_field("or amount", placeholder="500.00")

    def data_for_service(self) -> dict:
        return {"quantity": self.quantity.data or None, "amount": self.amount.data or None}


class ProviderForm(BaseForm):
    name = StringField("Name", validators=[DataRequired(REQUIRED), Length(max=100)], filters=[strip])
    provider_type = SelectField("Type", choices=[(t, t.replace("_", "-").capitalize()) for t in PROVIDER_TYPES])
    description = TextAreaField("Description", validators=[Optional(), Length(max=5000)], render_kw={"rows": 3})
    is_active = BooleanField("Active (listed in the marketplace)", default=True)

    FIELDS = ("name", "provider_type", "description", "is_active")

    def values(self) -> dict:
        return {name: getattr(self, name).data for name in self.FIELDS}


class PlanForm(BaseForm):
    provider = SelectField("Provider", choices=[])
    name = StringField("Name", validators=[DataRequired(REQUIRED), Length(max=100)], filters=[strip])
    price = decimal_field("Price", required=True, placeholder="49.00")
    currency = StringField("Currency", default="USD", validators=[Length(max=10)], filters=[strip])
    duration_days = StringField("Days", default="30", validators=[Length(max=5)], render_kw={"inputmode": "numeric"})
    trial_days = StringField("Trial days", default="0", validators=[Length(max=3)], render_kw={"inputmode": "numeric"})
    max_signals_per_day = StringField(
        "Signals per day", default="5", validators=[Length(max=5)], render_kw={"inputmode": "numeric"}
    )
    trading_pairs = SelectMultipleField("Pairs", choices=[], validate_choice=False)
    description = TextAreaField("Description", validators=[Optional(), Length(max=5000)], render_kw={"rows": 2})
    is_active = BooleanField("On sale", default=True)

    FIELDS = (
        "provider",
        "name",
        "price",
        "currency",
        "duration_days",
        "trial_days",
        "max_signals_per_day",
        "trading_pairs",
        "description",
        "is_active",
    )

    def values(self) -> dict:
        return {name: getattr(self, name).data for name in self.FIELDS}


class PublishForm(BaseForm):
    """The analyst's form; the same validation as ``POST /api/v1/signals/`` (the service's)."""

    provider = SelectField("Provider", choices=[])
    trading_pair = SelectField("Pair", choices=[])
    signal_type = SelectField("Type", choices=[(t, t.capitalize()) for t in SIGNAL_TYPES])
    entry_price = decimal_field("Entry", required=True)
    stop_loss = decimal_field("Stop-loss")
    take_profit = decimal_field("Take-profit")
    timeframe = SelectField("Timeframe", choices=[(t, t) for t in TIMEFRAMES], default="1h")
    confidence = decimal_field("Confidence %", required=True, placeholder="70")
    analysis = TextAreaField("Analysis", validators=[Optional(), Length(max=5000)], render_kw={"rows": 4})

    FIELDS = (
        "provider",
        "trading_pair",
        "signal_type",
        "entry_price",
        "stop_loss",
        "take_profit",
        "timeframe",
        "confidence",
        "analysis",
    )

    def values(self) -> dict:
        return {name: getattr(self, name).data for name in self.FIELDS}
