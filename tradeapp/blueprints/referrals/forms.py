"""Staff forms of the referral programme: settings, a tier, a review reason. Shape only; the service checks rules."""

from wtforms import IntegerField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from tradeapp.currencies import CURRENCIES
from tradeapp.forms import REQUIRED, BaseForm, decimal_field, strip


class SettingsForm(BaseForm):
    currency = SelectField("Programme currency", choices=[(c, c) for c in CURRENCIES])
    signup_bonus = decimal_field("Sign-up bonus", required=True)
    first_deposit_bonus = decimal_field("First-deposit bonus", required=True)
    first_deposit_minimum = decimal_field("First deposit must reach", required=True)
    clearing_days = IntegerField("Clearing period (days)", validators=[DataRequired(REQUIRED), NumberRange(0, 365)])
    monthly_cap = decimal_field("Monthly cap per referrer (0 = none)", required=True)
    burst_signups = IntegerField(
        "Hold when this many sign-ups share an IP or device", validators=[DataRequired(REQUIRED), NumberRange(2, 1000)]
    )
    burst_hours = IntegerField("… within (hours)", validators=[DataRequired(REQUIRED), NumberRange(1, 720)])

    def values(self) -> dict:
        return {name: field.data for name, field in self._fields.items() if name not in ("csrf_token",)}


class TierForm(BaseForm):
    name = StringField("Name", validators=[DataRequired(REQUIRED), Length(max=100)], filters=[strip])
    min_referrals = IntegerField("Qualified referrals", validators=[Optional(), NumberRange(0, 1_000_000)])
    commission_percentage = decimal_field("Commission %", required=True, placeholder="10")
    bonus_amount = decimal_field("Extra sign-up bonus", placeholder="0.00")

    def values(self) -> dict:
        return {
            "name": self.name.data,
            "min_referrals": "" if self.min_referrals.data is None else self.min_referrals.data,
            "commission_percentage": self.commission_percentage.data,
            "bonus_amount": self.bonus_amount.data,
        }


class ReviewForm(BaseForm):
    reason = TextAreaField(
        "Reason",
        validators=[DataRequired("Give a reason: it is kept in the audit log."), Length(max=500)],
        filters=[strip],
        render_kw={"rows": 2, "placeholder": "Why (kept in the audit log)"},
    )
