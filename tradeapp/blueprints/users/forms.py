"""Forms for the customer account pages: they check shape; services check the rules."""

from wtforms import BooleanField, EmailField, PasswordField, StringField, TelField
from wtforms.validators import DataRequired, Email, Length, Optional

from tradeapp.forms import REQUIRED, BaseForm, strip


def _text(label: str, autocomplete: str, required: bool = False, max_length: int = 150, field=StringField, **kw):
    """A stripped text input; ``autocomplete`` tells browsers and password managers what it holds."""
    validators = [DataRequired(REQUIRED) if required else Optional(), Length(max=max_length)]
    return field(label, validators=validators, filters=[strip], render_kw={"autocomplete": autocomplete, **kw})


def _email(*checks):
    validators = [DataRequired(REQUIRED), *checks, Length(max=254)]
    return EmailField("Email", validators=validators, filters=[strip], render_kw={"autocomplete": "email"})


def _password(label: str, autocomplete: str = "new-password"):
    return PasswordField(label, validators=[DataRequired(REQUIRED)], render_kw={"autocomplete": autocomplete})


class RegisterForm(BaseForm):
    email = _email()
    username = _text("Username", "username", required=True)
    first_name = _text("First name (optional)", "given-name")
    last_name = _text("Last name (optional)", "family-name")
    phone_number = _text(
        "Phone number (optional)", "tel", max_length=20, field=TelField, placeholder="+44 20 7946 0000"
    )
    password = _password("Password")
    password_confirm = _password("Confirm password")
    referral_code = _text("Referral code", "off", max_length=10, placeholder="Optional")


class LoginForm(BaseForm):
    email = _email()
    password = _password("Password", "current-password")
    remember_me = BooleanField("Keep me logged in on this device")


class ForgotPasswordForm(BaseForm):
    email = _email(Email("Enter a valid email address."))


class ResetPasswordForm(BaseForm):
    password = _password("New password")
    password_confirm = _password("Confirm new password")


class ProfileForm(BaseForm):
    username = _text("Username", "username", required=True)
    first_name = _text("First name", "given-name")
    last_name = _text("Last name", "family-name")
    phone_number = _text("Phone number", "tel", max_length=20, field=TelField)
    email = _email()


class ChangePasswordForm(BaseForm):
    current_password = _password("Current password", "current-password")
    new_password = _password("New password")
    new_password_confirm = _password("Confirm new password")


class CustomerOtpForm(BaseForm):
    """The second step of a customer login: the authenticator's code or a recovery code."""

    otp = StringField(
        "Code",
        validators=[DataRequired(message="Enter the code from your authenticator app."), Length(max=20)],
        filters=[strip],
        render_kw={"autocomplete": "one-time-code", "class": "otp-input", "placeholder": "000000"},
    )
