"""Forms of the back office: history filters, account actions with a reason, staff notes, report days."""

from wtforms import DateField, DecimalField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from tradeapp.forms import BaseForm


class _GetForm(BaseForm):
    """Filters read from the query string: no CSRF, nothing changes."""

    class Meta:
        csrf = False


def history_filter_form(kind, args):
    """The filter form of a money history (its status and method choices depend on the kind)."""

    class HistoryFilterForm(_GetForm):
        status = SelectField(
            "Status",
            choices=[("", "Any status")] + [(s, s.replace("_", " ").capitalize()) for s in kind.statuses],
            default="",
        )
        method = SelectField(
            "Method",
            choices=[("", "Any method")] + [(m, m.replace("_", " ").capitalize()) for m in kind.methods],
            default="",
        )
        currency = StringField("Currency", validators=[Optional(), Length(max=10)])
        user = StringField("Customer", validators=[Optional(), Length(max=100)])
        date_from = DateField("From", validators=[Optional()])
        date_to = DateField("To", validators=[Optional()])
        amount_min = DecimalField("Min amount", validators=[Optional(), NumberRange(min=0)], places=None)
        amount_max = DecimalField("Max amount", validators=[Optional(), NumberRange(min=0)], places=None)

    return HistoryFilterForm(args)


class ReasonForm(BaseForm):
    """A staff action on an account: the reason goes to the audit log."""

    reason = TextAreaField(
        "Reason",
        validators=[DataRequired(message="Say why: it goes to the audit log."), Length(min=3, max=500)],
        render_kw={"rows": 2, "placeholder": "Why (kept in the audit log)"},
    )


class NoteForm(BaseForm):
    body = TextAreaField(
        "Note",
        validators=[DataRequired(message="Write the note."), Length(max=2000)],
        render_kw={"rows": 3, "placeholder": "What the next colleague should know"},
    )


class ReportDayForm(_GetForm):
    day = DateField("Day", validators=[Optional()])
    date_from = DateField("From", validators=[Optional()])
    date_to = DateField("To", validators=[Optional()])
    currency = StringField("Currency", validators=[Optional(), Length(max=10)])
