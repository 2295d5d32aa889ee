"""Forms of the withdrawal pages: they check shape; services.withdrawals checks the rules."""

from wtforms import SelectField, StringField, TextAreaField
from wtforms.validators import AnyOf, DataRequired, Length, Optional

from tradeapp.forms import BaseForm, IdempotentFormMixin, RejectionReasonMixin, decimal_field, strip
from tradeapp.services.withdrawals import NETWORKS, REJECTION_PRESETS, RULES

REQUIRED = "This field is required."


class WithdrawalForm(IdempotentFormMixin, BaseForm):
    ERROR_RENAMES = {
        "destination_details.iban": "iban",
        "destination_details.account_holder": "account_holder",
        "destination_details.bank_name": "bank_name",
        "destination_details.address": "address",
        "destination_details.network": "network",
    }

    currency = SelectField("Currency", choices=[(code, code) for code in RULES])
    amount = decimal_field("Amount", required=True)
    destination_type = SelectField(
        "Send to", choices=[("bank_account", "Bank account"), ("crypto_wallet", "Crypto wallet")]
    )
    iban = StringField(
        "IBAN", validators=[Optional(), Length(max=50)], filters=[strip], render_kw={"autocomplete": "off"}
    )
    account_holder = StringField("Account holder", validators=[Optional(), Length(max=120)], filters=[strip])
    bank_name = StringField("Bank name (optional)", validators=[Optional(), Length(max=120)], filters=[strip])
    address = StringField(
        "Wallet address", validators=[Optional(), Length(max=120)], filters=[strip], render_kw={"autocomplete": "off"}
    )
    network = SelectField(
        "Network",
        choices=[(n, n.capitalize()) for n in sorted({n for nets in NETWORKS.values() for n in nets})],
        validators=[Optional()],
    )

    otp = StringField(
        "Two-factor code",
        validators=[Optional(), Length(max=20)],
        filters=[strip],
        render_kw={"autocomplete": "one-time-code", "inputmode": "numeric", "class": "otp-input"},
    )

    def destination_details(self) -> dict:
        if self.destination_type.data == "bank_account":
            return {
                "iban": self.iban.data or "",
                "account_holder": self.account_holder.data or "",
                "bank_name": self.bank_name.data or "",
            }
        return {"address": self.address.data or "", "network": self.network.data or ""}


class RejectForm(RejectionReasonMixin, BaseForm):
    preset = SelectField(
        "Reason",
        choices=[("", "Choose a reason…"), *[(p, p) for p in REJECTION_PRESETS], ("other", "Other (write below)")],
        validators=[Optional(), AnyOf(["", "other", *REJECTION_PRESETS], message="Choose a reason from the list.")],
    )
    note = TextAreaField(
        "Details for the customer", validators=[Optional(), Length(max=400)], filters=[strip], render_kw={"rows": 2}
    )


class PayoutFailedForm(BaseForm):
    NO_REASON = "Say why the payment failed."

    reason = StringField(
        "Why it failed", validators=[DataRequired("Say why the payment failed."), Length(max=300)], filters=[strip]
    )
