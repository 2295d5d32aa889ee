"""Forms for the customer account pages: they check shape; services check the rules."""

from wtforms import BooleanField, EmailField, PasswordField, StringField, TelField
from wtforms.validators import DataRequired, Email, Length, Optional

from tradeapp.forms import BaseForm, strip

REQUIRED = "This field is required."


class RegisterForm(BaseForm):
    email = EmailField(
        "Email",
        validators=[DataRequired(REQUIRED), Length(max=254)],
        filters=[strip],
        render_kw={"autocomplete": "email"},
    )
    username = StringField(
        "Username",
        validators=[DataRequired(REQUIRED), Length(max=150)],
        filters=[strip],
        render_kw={"autocomplete": "username"},
    )
    first_name = StringField(
        "First name (optional)",
        validators=[Optional(), Length(max=150)],
        filters=[strip],
        render_kw={"autocomplete": "given-name"},
    )
    last_name = StringField(
        "Last name (optional)",
        validators=[Optional(), Length(max=150)],
        filters=[strip],
        render_kw={"autocomplete": "family-name"},
    )
    phone_number = TelField(
        "Phone number (optional)",
        validators=[Optional(), Length(max=20)],
        filters=[strip],
        render_kw={"autocomplete": "tel", "placeholder": "+44 20 7946 0000"},
    )
    password = PasswordField(
        "Password", validators=[DataRequired(REQUIRED)], render_kw={"autocomplete": "new-password"}
    )
    password_confirm = PasswordField(
        "Confirm password", validators=[DataRequired(REQUIRED)], render_kw={"autocomplete": "new-password"}
    )
    referral_code = StringField(
        "Referral code",
        validators=[Optional(), Length(max=10)],
        filters=[strip],
        render_kw={"autocomplete": "off", "placeholder": "Optional"},
    )


class LoginForm(BaseForm):
    email = EmailField(
        "Email",
        validators=[DataRequired(REQUIRED), Length(max=254)],
        filters=[strip],
        render_kw={"autocomplete": "email"},
    )
    password = PasswordField(
        "Password", validators=[DataRequired(REQUIRED)], render_kw={"autocomplete": "current-password"}
    )
    remember_me = BooleanField("Keep me logged in on this device")


class ForgotPasswordForm(BaseForm):
    email = EmailField(
        "Email",
        validators=[DataRequired(REQUIRED), Email("Enter a valid email address."), Length(max=254)],
        filters=[strip],
        render_kw={"autocomplete": "email"},
    )


class ResetPasswordForm(BaseForm):
    password = PasswordField(
        "New password", validators=[DataRequired(REQUIRED)], render_kw={"autocomplete": "new-password"}
    )
    password_confirm = PasswordField(
        "Confirm new password", validators=[DataRequired(REQUIRED)], render_kw={"autocomplete": "new-password"}
    )


class ProfileForm(BaseForm):
    username = StringField(
        "Username",
        validators=[DataRequired(REQUIRED), Length(max=150)],
        filters=[strip],
        render_kw={"autocomplete": "username"},
    )
    first_name = StringField(
        "First name",
        validators=[Optional(), Length(max=150)],
        filters=[strip],
        render_kw={"autocomplete": "given-name"},
    )
    last_name = StringField(
        "Last name",
        validators=[Optional(), Length(max=150)],
        filters=[strip],
        render_kw={"autocomplete": "family-name"},
    )
    phone_number = TelField(
        "Phone number",
        validators=[Optional(), Length(max=20)],
        filters=[strip],
        render_kw={"autocomplete": "tel"},
    )
    email = EmailField(
        "Email",
        validators=[DataRequired(REQUIRED), Length(max=254)],
        filters=[strip],
        render_kw={"autocomplete": "email"},
    )


class ChangePasswordForm(BaseForm):
    current_password = PasswordField(
        "Current password", validators=[DataRequired(REQUIRED)], render_kw={"autocomplete": "current-password"}
    )
    new_password = PasswordField(
        "New password", validators=[DataRequired(REQUIRED)], render_kw={"autocomplete": "new-password"}
    )
    new_password_confirm = PasswordField(
        "Confirm new password", validators=[DataRequired(REQUIRED)], render_kw={"autocomplete": "new-password"}
    )
