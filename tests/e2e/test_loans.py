"""In a real browser: a customer checks the collateral live and applies, a loan officer approves it,
the customer repays part of it from the loan page."""

import re

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from tests.conftest import PASSWORD, totp_now
from tests.loans.conftest import PRODUCT
from tests.trading_helpers import fund
from tradeapp.extensions import db
from tradeapp.models import Loan
from tradeapp.services import loans

pytestmark = pytest.mark.e2e


def _release():
    """End this thread's transaction: on SQLite every transaction holds the write lock the server needs."""
    db.session.rollback()


def _login(page, email):
    page.goto("/auth/login")
    page.fill("[name=email]", email)
    page.fill("[name=password]", PASSWORD)
    page.click("#login-form [type=submit]")


def test_apply_approve_and_repay(page, browser, live_server, create_user, create_staff, market, pairs):
    market.set("BTC/USD", "50000", "50001", levels=10, size="5", step="1")
    market.set("ETH/USD", "3000", "3001", levels=5, size="50", step="1")
    admin = create_staff(role="admin", email="ada@staff.example.com")
    loans.save_product(admin, PRODUCT)
    customer = create_user(email="lee@example.com", username="lee", kyc_status="approved", is_verified=True)
    fund(customer, "BTC", "1")
    create_staff(role="loans", email="omar@staff.example.com")
    _release()

    _login(page, "lee@example.com")
    page.wait_for_url(re.compile(r"/dashboard$"))
    page.goto("/loans/apply")
    form = page.locator("#loan-apply-form")
    form.locator("[name=amount]").fill("10000")
    form.locator("[name=collateral_amount]").fill("0.3")
    check = page.locator("#collateral-check")
    expect(check).to_contain_text("0.40000000 BTC")
    expect(check).to_contain_text("Not enough: add 0.10000000 BTC")
    form.locator("[name=collateral_amount]").fill("0.5")
    expect(check).to_contain_text("covers this loan")
    page.shot("live-check")
    form.get_by_role("button", name=re.compile("Apply")).click()
    expect(page.locator("#loan-apply-form")).to_contain_text("your collateral is held")
    _release()
    loan_id = db.session.scalar(select(Loan.id))
    _release()

    context = browser.new_context(base_url=live_server, viewport={"width": 1280, "height": 900})
    staff = context.new_page()
    try:
        _login(staff, "omar@staff.example.com")
        staff.wait_for_url(re.compile(r"/staff/2fa"))
        staff.fill("[name=otp]", totp_now())
        staff.get_by_role("button", name="Verify").click()
        staff.wait_for_url(re.compile(r"/staff/$"))
        staff.get_by_role("link", name=re.compile(r"^Loan queue \d*$")).click()
        row = staff.locator(f"#staff-loan-{loan_id}")
        expect(row).to_contain_text("lee@example.com")
        staff.once("dialog", lambda dialog: dialog.accept())
        row.get_by_role("button", name=re.compile("Approve")).click()
        expect(staff.locator(f"#staff-loan-{loan_id}")).to_contain_text("disbursed")
    finally:
        context.close()

    page.goto(f"/loans/{loan_id}")
    expect(page.locator("#loan-ltv")).to_contain_text("40.00 %")
    page.fill("#repay-amount", "2500")
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Repay", exact=True).click()
    expect(page.locator("#loan-actions")).to_contain_text("Paid 2500.00 USD")
    expect(page.locator("#loan-ltv")).to_contain_text("7,500.00 USD")
    page.shot("repaid-part")
    _release()
    loan = db.session.get(Loan, loan_id)
    assert loan.status == "active" and loan.principal_outstanding == 7500
    _release()
