"""Forms of the loan pages: they check shape; services.loans checks the rules (KYC, bounds, collateral)."""

from wtforms import BooleanField, IntegerField, SelectField, StringField, TextAreaField
from wtforms.validators import AnyOf, DataRequired, Length, NumberRange, Optional

from tradeapp.forms import BaseForm, IdempotentFormMixin, RejectionReasonMixin, decimal_field, strip

REJECTION_PRESETS = (
    "Collateral source could not be verified",
    "Identity verification needs to be renewed",
    "The amount is above what we can lend you now",
)


class ApplyForm(IdempotentFormMixin, BaseForm):
    product = SelectField("Product", coerce=int, validate_choice=False)
    amount = decimal_field("Amount to borrow", required=True, placeholder="1000.00")
    collateral_currency = SelectField("Collateral", validate_choice=False)
    collateral_amount = decimal_field("Collateral amount", required=True, placeholder="0.05")
    term_days = SelectField("Term", coerce=int, validate_choice=False)

    def data_for_service(self) -> dict:
        return {
            "product": self.product.data,
            "amount": self.amount.data,
            "collateral_amount": self.collateral_amount.data,
            "collateral_currency": self.collateral_currency.data,
            "term_days": self.term_days.data,
        }


class AmountForm(IdempotentFormMixin, BaseForm):
    amount = decimal_field("Amount", required=True)


class RejectForm(RejectionReasonMixin, BaseForm):
    preset = SelectField(
        "Reason",
        choices=[("", "Choose a reason…"), *[(p, p) for p in REJECTION_PRESETS], ("other", "Other (write below)")],
        validators=[Optional(), AnyOf(["", "other", *REJECTION_PRESETS], message="Choose a reason from the list.")],
    )
    note = TextAreaField(
        "Details for the customer", validators=[Optional(), Length(max=400)], filters=[strip], render_kw={"rows": 2}
    )


class WriteOffForm(BaseForm):
    reason = TextAreaField(
        "Why the shortfall is written off",
        validators=[DataRequired(message="Say why."), Length(max=500)],
        filters=[strip],
        render_kw={"rows": 2},
    )


class ProductForm(BaseForm):
    name = StringField("Name", validators=[DataRequired(), Length(max=100)], filters=[strip])
    description = TextAreaField("Description", validators=[Optional(), Length(max=2000)], render_kw={"rows": 2})
    loan_currency = SelectField("Loan currency", choices=[("USD", "USD"), ("EUR", "EUR"), ("GBP", "GBP")])
    collateral_currencies = StringField(
        "Collateral currencies",
        validators=[DataRequired(), Length(max=60)],
        filters=[strip],
        render_kw={"placeholder": "BTC ETH"},
    )
    min_amount = decimal_field("Minimum amount", required=True)
    max_amount = decimal_field("Maximum amount", required=True)
    interest_rate = decimal_field("Annual interest %", required=True, placeholder="12")
    term_days = IntegerField("Default term (days)", validators=[DataRequired(), NumberRange(1, 3650)])
    term_options = StringField(
        "Other terms (days)",
        validators=[Optional(), Length(max=60)],
        filters=[strip],
        render_kw={"placeholder": "90 180"},
    )
    initial_ltv = decimal_field("Initial LTV %", required=True, placeholder="50")
    margin_call_ltv = decimal_field("Margin-call LTV %", required=True, placeholder="70")
    liquidation_ltv = decimal_field("Liquidation LTV %", required=True, placeholder="80")
    liquidation_fee = decimal_field("Liquidation fee %", required=True, placeholder="2")
    grace_days = IntegerField("Grace days", validators=[Optional(), NumberRange(0, 365)], default=3)
    is_active = BooleanField("Open for applications", default=True)

    def values(self) -> dict:
        return {name: field.data for name, field in self._fields.items() if name not in ("csrf_token",)}
