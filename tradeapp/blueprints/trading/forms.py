"""Forms of the staff pairs pages: they check shape; services.pairs checks the rules."""

from flask_wtf import FlaskForm
from wtforms import BooleanField, SelectField, StringField
from wtforms.validators import DataRequired, Length, Optional

from tradeapp.services.pairs import PAIR_TYPES

REQUIRED = "This field is required."


def _strip(value):
    return value.strip() if isinstance(value, str) else value


def _text(label, required=True, max_length=40, **render_kw):
    validators = [DataRequired(REQUIRED) if required else Optional(), Length(max=max_length)]
    return StringField(label, validators=validators, filters=[_strip], render_kw={"autocomplete": "off", **render_kw})


class PairForm(FlaskForm):
    """A pair's settings (editing); the symbol is fixed once created."""

    pair_type = SelectField("Type", choices=[(t, t.capitalize()) for t in PAIR_TYPES])
    maker_fee = _text("Maker fee %", inputmode="decimal", placeholder="0.10")
    taker_fee = _text("Taker fee %", inputmode="decimal", placeholder="0.20")
    min_order_size = _text("Min order size", inputmode="decimal")
    max_order_size = _text("Max order size", inputmode="decimal")
    price_precision = _text("Price decimals", max_length=3, inputmode="numeric")
    quantity_precision = _text("Quantity decimals", max_length=3, inputmode="numeric")
    feed_exchange = _text("Feed exchange", placeholder="simulated, binance, kraken…")
    feed_symbol = _text("Feed symbol", required=False, placeholder="BTC/USDT")
    is_active = BooleanField("Active (open for trading)")

    FIELDS = (
        "pair_type",
        "maker_fee",
        "taker_fee",
        "min_order_size",
        "max_order_size",
        "price_precision",
        "quantity_precision",
        "feed_exchange",
        "feed_symbol",
        "is_active",
    )

    def values(self) -> dict:
        return {name: getattr(self, name).data for name in self.FIELDS}

    def show_errors(self, fields: dict) -> None:
        """Put the service's per-field messages on the fields (the rest go above the form)."""
        self.form_errors = list(self.form_errors)
        for name, messages in fields.items():
            field = getattr(self, name, None)
            if field is not None and hasattr(field, "errors"):
                field.errors = [*field.errors, *messages]
            else:
                self.form_errors.extend(messages)


class NewPairForm(PairForm):
    """A new pair: the settings plus its symbol."""

    symbol = _text("Symbol", max_length=20, placeholder="BTC/EUR")

    FIELDS = ("symbol", *PairForm.FIELDS)
