"""In a real browser: the API reference pages render offline under their CSP (Swagger UI and ReDoc)."""

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.e2e


def test_redoc_renders_the_openapi_document(page):
    errors = []
    page.on("console", lambda msg: errors.append(msg.text) if "Content Security Policy" in msg.text else None)
    page.goto("/api/redoc/")
    expect(page.locator("h1").first).to_contain_text("tradeapp API")
    expect(page.get_by_text("Deliberate differences from the seed").first).to_be_visible()
    page.shot("redoc")
    # Only ReDoc's remote "powered by" logo is refused (img-src 'self'): the page loads nothing from outside.
    assert [e for e in errors if "cdn.redoc.ly" not in e] == []
    # that refusal is the CSP doing its job, not a page error
    page.console_errors[:] = [e for e in page.console_errors if "cdn.redoc.ly" not in e]
