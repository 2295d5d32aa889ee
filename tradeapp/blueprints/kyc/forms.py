"""Form of the customer KYC page: it checks shape; services.kyc checks content and rules."""

from flask_wtf.file import FileField
from wtforms import SelectField, StringField
from wtforms.validators import Length, Optional

from tradeapp.data.iso3166 import COUNTRIES
from tradeapp.forms import BaseForm, strip
from tradeapp.services.kyc import DOCUMENT_TYPE_LABELS, FILE_FIELDS, MAX_ADDRESS, MAX_CITY

IMAGE_ACCEPT = "image/jpeg,image/png"
DOCUMENT_ACCEPT = "image/jpeg,image/png,application/pdf"


class KycForm(BaseForm):
    document_type = SelectField("Document", choices=list(DOCUMENT_TYPE_LABELS.items()))
    document_number = StringField(
        "Document number",
        validators=[Optional(), Length(max=40)],
        filters=[strip],
        render_kw={"autocomplete": "off", "spellcheck": "false"},
    )
    date_of_birth = StringField("Date of birth", filters=[strip], render_kw={"type": "date", "autocomplete": "bday"})
    address = StringField(
        "Street address",
        validators=[Optional(), Length(max=MAX_ADDRESS)],
        filters=[strip],
        render_kw={"autocomplete": "street-address"},
    )
    city = StringField(
        "City",
        validators=[Optional(), Length(max=MAX_CITY)],
        filters=[strip],
        render_kw={"autocomplete": "address-level2"},
    )
    postal_code = StringField(
        "Postal code",
        validators=[Optional(), Length(max=20)],
        filters=[strip],
        render_kw={"autocomplete": "postal-code"},
    )
    country = SelectField(
        "Country",
        choices=[("", "Choose…"), *sorted(COUNTRIES.items(), key=lambda item: item[1])],
        validate_choice=False,  # the service checks the code and answers with a clear message
    )
    document_front = FileField("Front of the document", render_kw={"accept": DOCUMENT_ACCEPT})
    document_back = FileField("Back of the document", render_kw={"accept": DOCUMENT_ACCEPT})
    selfie = FileField("Selfie holding the document", render_kw={"accept": IMAGE_ACCEPT})
    address_proof = FileField("Proof of address", render_kw={"accept": DOCUMENT_ACCEPT})

    def values(self) -> dict:
        return {
            name: getattr(self, name).data
            for name in (
                "document_type",
                "document_number",
                "date_of_birth",
                "address",
                "city",
                "country",
                "postal_code",
            )
        }

    def uploads(self) -> dict:
        return {name: getattr(self, name).data or None for name in FILE_FIELDS}
