"""Forms of the staff pairs pages and the trade page: they check shape; the services check the rules."""

import uuid

from flask_wtf import FlaskForm
from wtforms import BooleanField, HiddenField, RadioField, SelectField, StringField
from wtforms.validators import DataRequired, Length, Optional

from tradeapp.services.trading.pairs import PAIR_TYPES

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


# -- customer trade page ---------------------------------------------------------------------------

ORDER_SIDE_CHOICES = [("buy", "Buy"), ("sell", "Sell")]
ORDER_TYPE_CHOICES = [
    ("market", "Market"),
    ("limit", "Limit"),
    ("stop_loss", "Stop-loss"),
    ("take_profit", "Take-profit"),
]


def _decimal_text(label, required=False, placeholder="0.00"):
    validators = [DataRequired(REQUIRED) if required else Optional(), Length(max=40)]
    return StringField(
        label,
        validators=validators,
        filters=[_strip],
        render_kw={"inputmode": "decimal", "autocomplete": "off", "placeholder": placeholder},
    )


class OrderForm(FlaskForm):
    """A customer's order on the trade page; services.trading.orders checks sizes, prices and funds."""

    side = RadioField("Side", choices=ORDER_SIDE_CHOICES, default="buy")
    order_type = RadioField("Order type", choices=ORDER_TYPE_CHOICES, default="market")
    quantity = _decimal_text("Amount", required=True, placeholder="0.00")
    price = _decimal_text("Limit price")
    stop_price = _decimal_text("Trigger price")
    #: one key per rendered form: a double submit is replayed, never placed twice
    idempotency_key = HiddenField()

    def fresh_key(self) -> None:
        self.idempotency_key.data = uuid.uuid4().hex

    def order_data(self, symbol: str) -> dict:
        """What services.trading.orders takes: only the price field the chosen type uses."""
        data = {
            "symbol": symbol,
            "side": self.side.data,
            "order_type": self.order_type.data,
            "quantity": self.quantity.data or "",
        }
        if self.order_type.data == "limit":
            data["price"] = self.price.data or ""
        elif self.order_type.data in ("stop_loss", "take_profit"):
            data["stop_price"] = self.stop_price.data or ""
        return data

    def show_errors(self, fields: dict, message: str = "") -> None:
        """The service's per-field messages on the fields; the rest above the form."""
        self.form_errors = list(self.form_errors)
        for name, messages in fields.items():
            field = self._fields.get(name)
            if field is not None and name not in ("csrf_token", "idempotency_key"):
                field.errors = [*field.errors, *messages]
            else:
                self.form_errors.extend(messages)
        if not fields and message:
            self.form_errors.append(message)


class ProtectionForm(FlaskForm):
    """A position's stop-loss and take-profit (empty clears one)."""

    stop_loss = _decimal_text("Stop-loss", placeholder="none")
    take_profit = _decimal_text("Take-profit", placeholder="none")

    def show_errors(self, fields: dict, message: str = "") -> None:
        self.form_errors = list(self.form_errors)
        for name, messages in fields.items():
            field = self._fields.get(name)
            if field is not None and name != "csrf_token":
                field.errors = [*field.errors, *messages]
            else:
                self.form_errors.extend(messages)
        if not fields and message:
            self.form_errors.append(message)
