"""Forms of the security pages: shapes only; the services check the rules (and the codes)."""

from wtforms import BooleanField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from tradeapp.forms import BaseForm, strip

OTP_KW = {"autocomplete": "one-time-code", "class": "otp-input", "placeholder": "000000"}


def _otp(required: bool = False) -> StringField:
    checks = [DataRequired("Enter the code from your authenticator app.")] if required else [Optional()]
    return StringField("Two-factor code", validators=[*checks, Length(max=20)], filters=[strip], render_kw=OTP_KW)


class CodeForm(BaseForm):
    """Confirm enrolment, turn off, new recovery codes: one code."""

    otp = _otp(required=True)


class SettingsForm(BaseForm):
    withdrawal_confirmation = BooleanField("Confirm each withdrawal by e-mail")
    whitelist_only = BooleanField("Withdraw only to addresses in my address book")
    anti_phishing_phrase = StringField(
        "Anti-phishing phrase",
        validators=[Optional(), Length(max=64)],
        filters=[strip],
        render_kw={"autocomplete": "off", "placeholder": "e.g. blue heron at noon"},
    )
    otp = _otp()


class AddressForm(BaseForm):
    ERROR_RENAMES = {
        "destination_details.iban": "iban",
        "destination_details.account_holder": "account_holder",
        "destination_details.address": "address",
        "destination_details.network": "network",
    }

    label = StringField("Name", validators=[DataRequired("Give it a name."), Length(max=80)], filters=[strip])
    currency = SelectField("Currency", choices=[])
    destination_type = SelectField(
        "Type", choices=[("bank_account", "Bank account"), ("crypto_wallet", "Crypto wallet")]
    )
    iban = StringField("IBAN", validators=[Optional(), Length(max=50)], filters=[strip])
    account_holder = StringField("Account holder", validators=[Optional(), Length(max=120)], filters=[strip])
    address = StringField("Wallet address", validators=[Optional(), Length(max=120)], filters=[strip])
    network = SelectField("Network", choices=[], validators=[Optional()])
    otp = _otp()

    def destination_details(self) -> dict:
        if self.destination_type.data == "bank_account":
            return {"iban": self.iban.data or "", "account_holder": self.account_holder.data or ""}
        return {"address": self.address.data or "", "network": self.network.data or ""}


class ResetTwoFactorForm(BaseForm):
    reason = TextAreaField(
        "Identity checks done",
        validators=[DataRequired("Say which identity checks were done."), Length(max=500)],
        filters=[strip],
        render_kw={"rows": 2},
    )
