"""Bot pages' forms: the bot form (its strategy's parameters are rendered from the schema), stop-with-reason."""

from wtforms import BooleanField, SelectField, SelectMultipleField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional
from wtforms.widgets import CheckboxInput, ListWidget

from tradeapp.forms import REQUIRED, BaseForm, decimal_field, strip
from tradeapp.models.bots import BOT_TIMEFRAMES
from tradeapp.services.bots.strategies import STRATEGY_CHOICES

PARAM_PREFIX = "param_"


class PairCheckboxes(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()

    def pre_validate(self, form):  # the service checks the ids (active, one quote currency)
        pass


class BotForm(BaseForm):
    """A bot's settings; ``parameters`` come from ``param_<name>`` inputs rendered from the strategy's schema."""

    ERROR_RENAMES = {"trading_pairs": "trading_pairs"}

    name = StringField("Name", validators=[DataRequired(REQUIRED), Length(max=100)], filters=[strip])
    description = TextAreaField("Description", validators=[Optional(), Length(max=2000)], render_kw={"rows": 2})
    strategy = SelectField("Strategy", choices=list(STRATEGY_CHOICES))
    trading_pairs = PairCheckboxes("Trading pairs", coerce=str)
    timeframe = SelectField("Evaluated on each closed", choices=[(t, t) for t in BOT_TIMEFRAMES], default="1h")
    is_paper_trading = BooleanField("Paper trading (virtual cash, no real orders)", default=True)
    paper_initial = decimal_field("Paper cash", placeholder="10000")
    max_position_size = decimal_field("Max position size", required=True, placeholder="1000")
    stop_loss_percentage = decimal_field("Stop-loss %", placeholder="0 = off")
    take_profit_percentage = decimal_field("Take-profit %", placeholder="0 = off")
    trailing_stop_percentage = decimal_field("Trailing stop %", placeholder="0 = off")
    max_daily_loss = decimal_field("Max daily loss", placeholder="0 = off")
    # the backtest's window (not saved with the bot)
    bt_start = StringField("Backtest from", validators=[Optional(), Length(max=40)], render_kw={"type": "date"})
    bt_end = StringField("to", validators=[Optional(), Length(max=40)], render_kw={"type": "date"})

    def parameters(self, formdata) -> dict:
        return {key[len(PARAM_PREFIX) :]: value for key, value in formdata.items() if key.startswith(PARAM_PREFIX)}

    def bot_data(self, formdata) -> dict:
        """The service's fields from the submitted form."""
        data = {
            "name": self.name.data or "",
            "description": self.description.data or "",
            "strategy": self.strategy.data,
            "trading_pairs": list(self.trading_pairs.data or []),
            "timeframe": self.timeframe.data,
            "is_paper_trading": bool(self.is_paper_trading.data),
            "parameters": self.parameters(formdata),
        }
        for name in (
            "max_position_size",
            "stop_loss_percentage",
            "take_profit_percentage",
            "trailing_stop_percentage",
            "max_daily_loss",
            "paper_initial",
        ):
            data[name] = getattr(self, name).data or None
        return data


class StopReasonForm(BaseForm):
    """Staff stop a customer's bot: the reason is recorded, audited and sent to the customer."""

    reason = StringField(
        "Reason", validators=[DataRequired("Say why the bot is stopped."), Length(max=200)], filters=[strip]
    )


class StrategySwitchForm(BaseForm):
    reason = StringField("Reason", validators=[Optional(), Length(max=200)], filters=[strip])
