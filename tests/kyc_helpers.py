"""Plain helpers for the KYC tests: generated images and PDFs, a valid submission, storage files."""

import io
from pathlib import Path

from werkzeug.datastructures import FileStorage

DOC_NUMBER = "X1234-98765"


def png(width=400, height=400, color=(20, 120, 200)) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (width, height), color).save(buf, "PNG")
    return buf.getvalue()


def jpeg(width=400, height=400) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (width, height), (200, 80, 40)).save(buf, "JPEG")
    return buf.getvalue()


def pdf() -> bytes:
    return b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def valid_data(**overrides) -> dict:
    data = {
        "document_type": "passport",
        "document_number": DOC_NUMBER,
        "date_of_birth": "1990-05-17",
        "address": "12 Rue de Rivoli",
        "city": "Paris",
        "country": "FR",
        "postal_code": "75001",
    }
    data.update(overrides)
    return data


def valid_files(**overrides) -> dict[str, bytes]:
    """Bytes per field name (``None`` leaves a field out)."""
    files = {"document_front": jpeg(), "selfie": png(), "address_proof": pdf()}
    files.update(overrides)
    return {k: v for k, v in files.items() if v is not None}


def storages(files: dict[str, bytes], names: dict[str, str] | None = None) -> dict[str, FileStorage]:
    """FileStorage objects as a request would hand them to the service."""
    names = names or {}
    return {
        field: FileStorage(io.BytesIO(data), filename=names.get(field, f"{field}.bin"), content_type="image/jpeg")
        for field, data in files.items()
    }


def multipart(data: dict, files: dict[str, bytes], names: dict[str, str] | None = None) -> dict:
    """A test-client ``data=`` dict with the fields and the files."""
    names = names or {}
    body = dict(data)
    for field, content in files.items():
        body[field] = (io.BytesIO(content), names.get(field, f"{field}.jpg"), "image/jpeg")
    return body


def stored_files(app) -> list[Path]:
    root = Path(app.config["KYC_STORAGE_DIR"])
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []
