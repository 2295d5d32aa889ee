"""Forms of the compliance review pages: they check shape; services.kyc_review checks the rules."""

from wtforms import SelectField, TextAreaField
from wtforms.validators import AnyOf, Length, Optional

from tradeapp.forms import BaseForm, strip
from tradeapp.services.kyc_review import REJECTION_PRESETS

REASON_REQUIRED = "Choose a reason, or pick Other and write one."


class ApproveForm(BaseForm):
    note = TextAreaField(
        "Note (optional, staff only)", validators=[Optional(), Length(max=500)], filters=[strip], render_kw={"rows": 2}
    )


class RejectForm(BaseForm):
    preset = SelectField(
        "Reason",
        choices=[("", "Choose a reason…"), *[(p, p) for p in REJECTION_PRESETS]],
        validators=[Optional(), AnyOf(["", *REJECTION_PRESETS], message="Choose a reason from the list.")],
    )
    note = TextAreaField(
        "Details for the customer", validators=[Optional(), Length(max=400)], filters=[strip], render_kw={"rows": 2}
    )

    def reason(self) -> str:
        """The preset and the free text as one sentence; "Other" counts only with text."""
        preset = self.preset.data if self.preset.data not in ("", "Other") else ""
        return ": ".join(part for part in (preset, self.note.data or "") if part)

    def validate(self, extra_validators=None) -> bool:
        """A preset, or Other with text: the customer is told why."""
        if not super().validate(extra_validators):
            return False
        if not self.reason():
            self.preset.errors = [*self.preset.errors, REASON_REQUIRED]
            return False
        return True
