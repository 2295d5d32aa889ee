"""In a real browser: a customer submits KYC, a compliance officer reviews and approves it."""

import io
import re
import time

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from tests.conftest import PASSWORD, totp_now
from tests.e2e.conftest import ARTIFACTS
from tradeapp.extensions import db
from tradeapp.models import User
from tradeapp.models.kyc import KYCDocument

pytestmark = pytest.mark.e2e


def _release():
    """End this thread's transaction: on SQLite every transaction holds the write lock the server needs."""
    db.session.rollback()


def _png(path, color):
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (480, 360), color).save(buf, "PNG")
    path.write_bytes(buf.getvalue())
    return str(path)


def _login(page, email):
    page.goto("/auth/login")
    page.fill("[name=email]", email)
    page.fill("[name=password]", PASSWORD)
    page.click("#login-form [type=submit]")


def test_customer_submits_and_compliance_approves(page, browser, live_server, create_user, create_staff, tmp_path):
    create_user(email="kim@example.com", username="kim", first_name="Kim", last_name="Park")
    create_staff(role="compliance", email="cora@staff.example.com", first_name="Cora")
    _release()

    # The customer submits on /kyc/.
    _login(page, "kim@example.com")
    page.wait_for_url(re.compile(r"/dashboard$"))
    page.goto("/kyc/")
    form = page.locator("#kyc-form")
    form.locator("[name=document_type]").select_option("passport")
    form.locator("[name=document_number]").fill("P 4821 7733")
    form.locator("[name=date_of_birth]").fill("1988-03-14")
    form.locator("[name=address]").fill("12 Harbour Street")
    form.locator("[name=city]").fill("Bristol")
    form.locator("[name=country]").select_option("GB")
    form.locator("[name=postal_code]").fill("BS1 4QA")
    form.locator("[name=document_front]").set_input_files(_png(tmp_path / "front.png", (30, 80, 150)))
    form.locator("[name=selfie]").set_input_files(_png(tmp_path / "selfie.png", (200, 150, 90)))
    form.locator("[name=address_proof]").set_input_files(_png(tmp_path / "bill.png", (90, 160, 90)))
    page.shot("customer-form")
    form.locator("[type=submit]").click()
    expect(page.locator("#kyc-panel")).to_contain_text(re.compile("pending", re.I))
    page.shot("customer-pending")
    _release()
    doc = db.session.scalar(
        select(KYCDocument).join(User, KYCDocument.user_id == User.id).where(User.email == "kim@example.com")
    )
    assert doc is not None and doc.status == "pending"
    doc_id = doc.id
    _release()

    # A compliance officer, in another browser context, reviews it.
    context = browser.new_context(base_url=live_server, viewport={"width": 1280, "height": 900})
    staff = context.new_page()
    try:
        _login(staff, "cora@staff.example.com")
        staff.wait_for_url(re.compile(r"/staff/2fa"))
        staff.fill("[name=otp]", totp_now())
        staff.get_by_role("button", name="Verify").click()
        staff.wait_for_url(re.compile(r"/staff/$"))

        staff.get_by_role("link", name=re.compile("KYC queue")).click()
        staff.wait_for_url(re.compile(r"/staff/kyc/$"))
        row = staff.locator(f"#kyc-{doc_id}")
        expect(row).to_contain_text("kim@example.com")
        row.get_by_role("link", name="Review").click()
        staff.wait_for_url(re.compile(rf"/staff/kyc/{doc_id}$"))

        front = staff.locator("img.kyc-image").first
        expect(front).to_be_visible()
        # The image really loaded through the authorised route. Polled from here: wait_for_function
        # re-evaluates its predicate through eval, which the page's CSP refuses.
        deadline = time.monotonic() + 10
        while front.evaluate("img => img.complete && img.naturalWidth") != 480:
            assert time.monotonic() < deadline, "the KYC image did not load"
            staff.wait_for_timeout(100)
        front.click()
        expect(front).to_have_class(re.compile("kyc-zoomed"))
        front.click()
        expect(front).not_to_have_class(re.compile("kyc-zoomed"))
        expect(staff.locator("body")).to_contain_text("•••• 7733")
        staff.screenshot(path=str(ARTIFACTS / "kyc-flow-staff-review.png"), full_page=True)

        staff.locator("#kyc-decision").get_by_role("button", name="Approve").click()
        expect(staff.locator("#kyc-decision")).to_contain_text("Approved: the customer is verified")
        expect(staff.locator("#kyc-decision").get_by_role("link", name=re.compile("Back to the queue"))).to_be_visible()
        staff.screenshot(path=str(ARTIFACTS / "kyc-flow-staff-approved.png"), full_page=True)
    finally:
        context.close()

    _release()
    user = db.session.scalar(select(User).where(User.email == "kim@example.com"))
    assert user.kyc_status == "approved" and user.is_verified is True
    _release()

    # The customer sees it.
    page.goto("/kyc/")
    expect(page.locator("#kyc-panel")).to_contain_text(re.compile("approved", re.I))
    page.shot("customer-approved")
