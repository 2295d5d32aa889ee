"""Copy-trading page forms: shapes only (the services check the rules)."""

from wtforms import BooleanField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from tradeapp.forms import REQUIRED, BaseForm, decimal_field, strip


class ApplyForm(BaseForm):
    """Apply to be a lead trader."""

    display_name = StringField("Display name", validators=[DataRequired(REQUIRED), Length(max=100)], filters=[strip])
    bio = TextAreaField("About your trading", validators=[Optional(), Length(max=2000)], filters=[strip])
    profit_share_percentage = decimal_field("Profit share (%)", placeholder="10")
    is_public = BooleanField("List me on the leaderboard", default=True)


class FollowForm(BaseForm):
    """Follow a trader (the seed's subscription fields, plus the guards)."""

    copy_percentage = decimal_field("Allocate (% of your available USD)", required=True, placeholder="25")
    max_position_size = decimal_field("Max per copied order (USD)", placeholder="No cap")
    stop_loss_percentage = decimal_field("Portfolio stop (% loss)", placeholder="None")
    slippage_percentage = decimal_field("Slippage guard (%)", placeholder="None")
    copy_open_positions = BooleanField("Also copy the positions the trader holds now")


class SettingsForm(BaseForm):
    """Edit a subscription."""

    copy_percentage = decimal_field("Allocation (% of free USD)", required=True)
    max_position_size = decimal_field("Max per copied order (USD)", placeholder="No cap")
    stop_loss_percentage = decimal_field("Portfolio stop (% loss)", placeholder="None")
    slippage_percentage = decimal_field("Slippage guard (%)", placeholder="None")


class ReasonForm(BaseForm):
    """A staff decision's reason."""

    reason = StringField("Reason", validators=[Optional(), Length(max=255)], filters=[strip])
