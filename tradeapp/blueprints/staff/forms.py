"""Forms of the staff console: the second factor, list filters and account actions."""

from wtforms import DateField, HiddenField, SelectField, StringField, SubmitField, TextAreaField
from wtforms.validators import AnyOf, DataRequired, Length, Optional, Regexp

from tradeapp.forms import BaseForm
from tradeapp.models.users import KYC_STATUSES, STAFF_ROLES
from tradeapp.permissions import ROLE_LABELS


class OtpForm(BaseForm):
    otp = StringField(
        "Six-digit code",
        validators=[
            DataRequired(message="Enter the code from your authenticator app."),
            Regexp(r"^\s*\d{3}\s?\d{3}\s*$", message="Enter the 6-digit code."),
        ],
        render_kw={
            "autocomplete": "one-time-code",
            "inputmode": "numeric",
            "maxlength": 7,
            "class": "otp-input",
            "placeholder": "000000",
        },
    )
    submit = SubmitField("Verify")


class EmptyForm(BaseForm):
    """CSRF only, behind a bare POST button."""


class _GetForm(BaseForm):
    """Filters read from the query string: no CSRF, nothing changes."""

    class Meta:
        csrf = False


class UserFilterForm(_GetForm):
    q = StringField("Search", validators=[Optional(), Length(max=100)])
    type = SelectField("Type", choices=[("", "Everyone"), ("customers", "Customers"), ("staff", "Staff")])
    role = SelectField("Role", choices=[("", "Any role")] + [(r, ROLE_LABELS[r]) for r in STAFF_ROLES])
    kyc = SelectField("KYC", choices=[("", "Any KYC")] + [(s, s.replace("_", " ").capitalize()) for s in KYC_STATUSES])
    verified = SelectField("Email", choices=[("", "Any email"), ("yes", "Email verified"), ("no", "Not verified")])
    status = SelectField("Status", choices=[("", "Any status"), ("active", "Active"), ("disabled", "Disabled")])


class AuditFilterForm(_GetForm):
    actor = StringField("Actor e-mail", validators=[Optional(), Length(max=254)])
    action = StringField("Action", validators=[Optional(), Length(max=64)])
    target_type = StringField("Target type", validators=[Optional(), Length(max=40)])
    target_id = StringField("Target id", validators=[Optional(), Length(max=64)])
    date_from = DateField("From", validators=[Optional()])
    date_to = DateField("To", validators=[Optional()])


class StatusForm(BaseForm):
    """Disable or re-enable an account; the reason goes to the audit log."""

    action = HiddenField(validators=[AnyOf(("disable", "enable"), message="Unknown action.")])
    reason = TextAreaField(
        "Reason",
        validators=[
            DataRequired(message="Say why: it goes to the audit log."),
            Length(min=3, max=500, message="Use 3 to 500 characters."),
        ],
        render_kw={"rows": 2, "placeholder": "e.g. customer request, ticket #123"},
    )


class RoleForm(BaseForm):
    role = SelectField(
        "Role",
        choices=[("", "Customer (no staff role)")] + [(r, ROLE_LABELS[r]) for r in STAFF_ROLES],
        validate_choice=True,
    )
