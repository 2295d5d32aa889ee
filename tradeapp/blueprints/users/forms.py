"""Forms for the customer account pages: they check shape; services check the rules."""

from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, PasswordField, StringField, TelField
from wtforms.validators import DataRequired, Email, Length, Optional

from tradeapp.errors import DomainError

REQUIRED = "This field is required."


def apply_errors(form: FlaskForm, exc: DomainError) -> None:
    """Show a service's field errors on the matching inputs; the rest above the form."""
    for name, messages in exc.fields.items():
        field = form._fields.get(name)
        if field is not None and name != "csrf_token":
            field.errors = [*field.errors, *messages]
        else:
            form.form_errors.extend(messages)
    if not exc.fields:
        form.form_errors.append(exc.message)


def _strip(value):
    return value.strip() if isinstance(value, str) else value


class RegisterForm(FlaskForm):
    email = EmailField(
        "Email",
        validators=[DataRequired(REQUIRED), Length(max=254)],
        filters=[_strip],
        render_kw={"autocomplete": "email"},
    )
    username = StringField(
        "Username",
        validators=[DataRequired(REQUIRED), Length(max=150)],
        filters=[_strip],
        render_kw={"autocomplete": "username"},
    )
    first_name = StringField(
        "First name (optional)",
        validators=[Optional(), Length(max=150)],
        filters=[_strip],
        render_kw={"autocomplete": "given-name"},
    )
    last_name = StringField(
        "Last name (optional)",
        validators=[Optional(), Length(max=150)],
        filters=[_strip],
        render_kw={"autocomplete": "family-name"},
    )
    phone_number = TelField(
        "Phone number (optional)",
        validators=[Optional(), Length(max=20)],
        filters=[_strip],
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
        filters=[_strip],
        render_kw={"autocomplete": "off", "placeholder": "Optional"},
    )


class LoginForm(FlaskForm):
    email = EmailField(
        "Email",
        validators=[DataRequired(REQUIRED), Length(max=254)],
        filters=[_strip],
        render_kw={"autocomplete": "email"},
    )
    password = PasswordField(
        "Password", validators=[DataRequired(REQUIRED)], render_kw={"autocomplete": "current-password"}
    )
    remember_me = BooleanField("Keep me logged in on this device")


class ForgotPasswordForm(FlaskForm):
    email = EmailField(
        "Email",
        validators=[DataRequired(REQUIRED), Email("Enter a valid email address."), Length(max=254)],
        filters=[_strip],
        render_kw={"autocomplete": "email"},
    )


class ResetPasswordForm(FlaskForm):
    password = PasswordField(
        "New password", validators=[DataRequired(REQUIRED)], render_kw={"autocomplete": "new-password"}
    )
    password_confirm = PasswordField(
        "Confirm new password", validators=[DataRequired(REQUIRED)], render_kw={"autocomplete": "new-password"}
    )


class ProfileForm(FlaskForm):
    username = StringField(
        "Username",
        validators=[DataRequired(REQUIRED), Length(max=150)],
        filters=[_strip],
        render_kw={"autocomplete": "username"},
    )
    first_name = StringField(
        "First name",
        validators=[Optional(), Length(max=150)],
        filters=[_strip],
        render_kw={"autocomplete": "given-name"},
    )
    last_name = StringField(
        "Last name",
        validators=[Optional(), Length(max=150)],
        filters=[_strip],
        render_kw={"autocomplete": "family-name"},
    )
    phone_number = TelField(
        "Phone number",
        validators=[Optional(), Length(max=20)],
        filters=[_strip],
        render_kw={"autocomplete": "tel"},
    )
    email = EmailField(
        "Email",
        validators=[DataRequired(REQUIRED), Length(max=254)],
        filters=[_strip],
        render_kw={"autocomplete": "email"},
    )


class ChangePasswordForm(FlaskForm):
    current_password = PasswordField(
        "Current password", validators=[DataRequired(REQUIRED)], render_kw={"autocomplete": "current-password"}
    )
    new_password = PasswordField(
        "New password", validators=[DataRequired(REQUIRED)], render_kw={"autocomplete": "new-password"}
    )
    new_password_confirm = PasswordField(
        "Confirm new password", validators=[DataRequired(REQUIRED)], render_kw={"autocomplete": "new-password"}
    )
