"""Forms of the staff pairs pages and the trade page: they check shape; the services check the rules."""

from wtforms import BooleanField, RadioField, SelectField, StringField
from wtforms.validators import DataRequired, Length, Optional

from tradeapp.forms import REQUIRED, BaseForm, IdempotentFormMixin, decimal_field, strip
from tradeapp.services.trading.pairs import PAIR_TYPES


def _text(label, required=True, max_length=40, **render_kw):
    validators = [DataRequired(REQUIRED) if required else Optional(), Length(max=max_length)]
    return StringField(label, validators=validators, filters=[strip], render_kw={"autocomplete": "off", **render_kw})


class PairForm(BaseForm):
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


class OrderForm(IdempotentFormMixin, BaseForm):
    """A customer's order on the trade page; services.trading.orders checks sizes, prices and funds."""

    side = RadioField("Side", choices=ORDER_SIDE_CHOICES, default="buy")
    order_type = RadioField("Order type", choices=ORDER_TYPE_CHOICES, default="market")
    quantity = decimal_field("Amount", required=True, placeholder="0.00")
    price = decimal_field("Limit price")
    stop_price = decimal_field("Trigger price")

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


class ProtectionForm(BaseForm):
    """A position's stop-loss and take-profit (empty clears one)."""

    stop_loss = decimal_field("Stop-loss", placeholder="none")
    take_profit = decimal_field("Take-profit", placeholder="none")
