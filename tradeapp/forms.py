"""The base of every page form: service errors shown on the fields, one idempotency key per render.

Forms check shape; services check rules. When a service refuses (``DomainError.fields``), ``show_errors``
puts each message on its input and the rest above the form, so no view maps errors by hand.
"""

import uuid

from flask_wtf import FlaskForm
from wtforms import HiddenField, StringField
from wtforms.validators import DataRequired, Length, Optional

from tradeapp.errors import DomainError

REQUIRED = "This field is required."
#: fields a service's error never lands on (they are not inputs the customer can fix)
HIDDEN_FIELDS = ("csrf_token", "idempotency_key")


def strip(value):
    """A WTForms filter: surrounding white space is never part of a value."""
    return value.strip() if isinstance(value, str) else value


def new_idempotency_key() -> str:
    return uuid.uuid4().hex


def decimal_field(label: str, required: bool = False, placeholder: str = "0.00", max_length: int = 40, **render_kw):
    """A decimal typed as text (Decimal parsing is the service's): numeric keyboard, no autocomplete."""
    validators = [DataRequired(REQUIRED) if required else Optional(), Length(max=max_length)]
    return StringField(
        label,
        validators=validators,
        filters=[strip],
        render_kw={"inputmode": "decimal", "autocomplete": "off", "placeholder": placeholder, **render_kw},
    )


class BaseForm(FlaskForm):
    """A FlaskForm that shows a service's refusal on its inputs."""

    #: the service's field names that the form calls otherwise (``{"destination": "iban"}``)
    ERROR_RENAMES: dict[str, str] = {}

    def show_errors(self, fields: dict, message: str = "") -> bool:
        """Each message on its field, the rest above the form; ``message`` there when no field was named.

        Returns whether any message landed on an input.
        """
        self.form_errors = list(self.form_errors)
        placed = False
        for name, messages in (fields or {}).items():
            field = self._fields.get(self.ERROR_RENAMES.get(name, name))
            if field is not None and field.name not in HIDDEN_FIELDS:
                field.errors = [*field.errors, *messages]
                placed = True
            else:
                self.form_errors.extend(messages)
        if not fields and message:
            self.form_errors.append(message)
        return placed

    def show_error(self, exc: DomainError) -> bool:
        """``show_errors`` for a refused service call."""
        return self.show_errors(exc.fields, exc.message)

    def error_messages(self) -> list[str]:
        """Every message, form-level first (for a flash when there is no form to show them on)."""
        return [*self.form_errors, *(m for field in self for m in field.errors)]


class RejectionReasonMixin:
    """A preset reason (``preset``) and/or free text (``note``) the customer is told; one of them is needed."""

    #: the preset that counts only with text
    OTHER = "other"
    NO_REASON = "Choose a reason or write one."
    #: the input that shows ``NO_REASON``
    NO_REASON_FIELD = "note"

    def reason(self) -> str:
        """The preset and the free text as one sentence."""
        preset = self.preset.data if self.preset.data not in ("", self.OTHER) else ""
        return ": ".join(part for part in (preset, self.note.data or "") if part)

    def validate(self, extra_validators=None) -> bool:
        if not super().validate(extra_validators):
            return False
        if not self.reason():
            field = self._fields[self.NO_REASON_FIELD]
            field.errors = [*field.errors, self.NO_REASON]
            return False
        return True


class IdempotentFormMixin:
    """A hidden idempotency key: a double submit replays the first answer, a new render gets a new key."""

    #: one key per rendered form: a double submit is replayed, never acted on twice
    idempotency_key = HiddenField()

    def fresh_key(self) -> None:
        self.idempotency_key.data = new_idempotency_key()
