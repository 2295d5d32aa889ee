"""Forms of the compliance review pages: they check shape; services.kyc_review checks the rules."""

from wtforms import SelectField, TextAreaField
from wtforms.validators import AnyOf, Length, Optional

from tradeapp.forms import BaseForm, RejectionReasonMixin, strip
from tradeapp.services.kyc_review import REJECTION_PRESETS

REASON_REQUIRED = "Choose a reason, or pick Other and write one."


class ApproveForm(BaseForm):
    note = TextAreaField(
        "Note (optional, staff only)", validators=[Optional(), Length(max=500)], filters=[strip], render_kw={"rows": 2}
    )


class RejectForm(RejectionReasonMixin, BaseForm):
    OTHER = "Other"
    NO_REASON = REASON_REQUIRED
    NO_REASON_FIELD = "preset"

    preset = SelectField(
        "Reason",
        choices=[("", "Choose a reason…"), *[(p, p) for p in REJECTION_PRESETS]],
        validators=[Optional(), AnyOf(["", *REJECTION_PRESETS], message="Choose a reason from the list.")],
    )
    note = TextAreaField(
        "Details for the customer", validators=[Optional(), Length(max=400)], filters=[strip], render_kw={"rows": 2}
    )
