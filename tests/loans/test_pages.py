"""The loan pages: calculator, application with its live check, my loans, the loan page's actions,
and the staff queue, detail, products, delinquency and liquidations."""

from datetime import timedelta
from decimal import Decimal

from sqlalchemy import select

from tests.conftest import csrf_token, web_login
from tests.loans.conftest import PRODUCT, active_loan, apply, set_btc
from tests.trading_helpers import balances
from tradeapp.extensions import db
from tradeapp.models import Loan, LoanProduct
from tradeapp.services import loans

D = Decimal
HX = {"HX-Request": "true"}


def _customer(app, world):
    client = app.test_client()
    web_login(client, world.borrower.email)
    return client


def test_empty_my_loans_says_what_to_do(app, world):
    page = _customer(app, world).get("/loans/").get_data(as_text=True)
    assert "No loans yet" in page and "Apply for a loan" in page and PRODUCT["name"] in page


def test_calculator_shows_collateral_and_interest_at_the_live_price(app, world):
    client = _customer(app, world)
    page = client.get(f"/loans/products?product={world.product.id}&amount=10000&currency=BTC&term=30")
    assert page.status_code == 200
    fragment = client.get(
        f"/loans/products?product={world.product.id}&amount=10000&currency=BTC&term=90", headers=HX
    ).get_data(as_text=True)
    assert 'id="calculator-result"' in fragment and "0.40000000 BTC" in fragment
    assert "295.89" in fragment  # 10000 × 12 % × 90 / 365


def test_the_live_check_and_the_application(app, world):
    client = _customer(app, world)
    check = client.get(
        f"/loans/apply/check?product={world.product.id}&amount=10000&collateral_currency=BTC&collateral_amount=0.3&term_days=30",
        headers=HX,
    ).get_data(as_text=True)
    assert "Minimum collateral" in check and "add 0.10000000 BTC" in check
    token = csrf_token(client, "/loans/apply")
    data = {
        "csrf_token": token,
        "product": world.product.id,
        "amount": "10000",
        "collateral_currency": "BTC",
        "collateral_amount": "0.3",
        "term_days": "30",
        "idempotency_key": "k1",
    }
    refused = client.post("/loans/apply", data=data, headers=HX)
    assert refused.status_code == 422 and "Minimum collateral: 0.40000000 BTC." in refused.get_data(as_text=True)
    data.update(collateral_amount="0.5", idempotency_key="k2")
    done = client.post("/loans/apply", data=data, headers=HX)
    assert done.status_code == 200 and "toast" in done.headers["HX-Trigger-After-Settle"]
    loan = db.session.scalar(select(Loan))
    assert loan.status == "pending" and balances(world.borrower, "BTC")[1] == D("0.5")


def test_loan_page_repay_and_add_collateral(app, world):
    loan = active_loan(world)
    client = _customer(app, world)
    page = client.get(f"/loans/{loan.id}").get_data(as_text=True)
    assert "ltv-gauge" in page and "Schedule" in page and "Repay" in page
    token = csrf_token(client, f"/loans/{loan.id}")
    paid = client.post(f"/loans/{loan.id}/repay", data={"csrf_token": token, "amount": "500"}, headers=HX)
    assert paid.status_code == 200 and "Paid 500.00 USD" in paid.get_data(as_text=True)
    assert paid.headers["HX-Trigger"] == "loanChanged"
    added = client.post(f"/loans/{loan.id}/collateral", data={"csrf_token": token, "amount": "0.1"}, headers=HX)
    assert added.status_code == 200
    short = client.post(f"/loans/{loan.id}/collateral", data={"csrf_token": token, "amount": "5"}, headers=HX)
    assert short.status_code == 422 and "Not enough available BTC" in short.get_data(as_text=True)
    assert client.get(f"/loans/{loan.id}/ltv", headers=HX).status_code == 200
    assert client.get(f"/loans/{loan.id}/activity", headers=HX).status_code == 200
    db.session.expire_all()
    assert db.session.get(Loan, loan.id).collateral_amount == D("0.6")


def test_staff_queue_approve_and_reject(app, world, staff_client_factory):
    first = apply(world)
    second = apply(world, amount="1000", collateral="0.05")
    client, officer = staff_client_factory("loans")
    queue = client.get("/staff/loans/").get_data(as_text=True)
    assert f"staff-loan-{first.id}" in queue and 'data-counter="loans"' in queue
    token = csrf_token(client, "/staff/loans/")
    approved = client.post(f"/staff/loans/{first.id}/approve", data={"csrf_token": token}, headers=HX)
    assert approved.status_code == 200 and "disbursed" in approved.get_data(as_text=True)
    rejected = client.post(
        f"/staff/loans/{second.id}/reject", data={"csrf_token": token, "preset": "", "note": ""}, headers=HX
    )
    assert rejected.status_code == 422
    rejected = client.post(
        f"/staff/loans/{second.id}/reject",
        data={"csrf_token": token, "preset": "Collateral source could not be verified", "note": ""},
        headers=HX,
    )
    assert rejected.status_code == 200
    db.session.expire_all()
    assert db.session.get(Loan, first.id).status == "active"
    assert db.session.get(Loan, second.id).rejection_reason == "Collateral source could not be verified"
    detail = client.get(f"/staff/loans/{first.id}").get_data(as_text=True)
    assert "Ledger entries" in detail and "LTV history" in detail and "loan.approved" in detail


def test_customers_cannot_open_the_staff_pages(app, world):
    client = _customer(app, world)
    for url in ("/staff/loans/", "/staff/loans/products", "/staff/loans/delinquency", "/staff/loans/liquidations"):
        assert client.get(url).status_code == 403, url


def test_staff_products_delinquency_and_liquidations(app, world, staff_client_factory):
    loan = active_loan(world, "10000", "0.4")
    set_btc(world.market, "30000")
    loans.check_ltv("BTC/USD")
    client, _ = staff_client_factory("loans")
    assert "partial" in client.get("/staff/loans/liquidations").get_data(as_text=True)
    late = active_loan(world, "1000", "0.1")
    late.due_date = late.due_date - timedelta(days=40)  # 10 days past due
    db.session.commit()
    page = client.get("/staff/loans/delinquency").get_data(as_text=True)
    assert f"/staff/loans/{late.id}" in page and "past grace" in page
    token = csrf_token(client, "/staff/loans/products")
    form = {**PRODUCT, "name": "Euro bridge", "collateral_currencies": "BTC", "term_options": "60", "csrf_token": token}
    form.pop("loan_currency")
    form["loan_currency"] = "USD"
    form["is_active"] = "y"
    made = client.post("/staff/loans/products", data=form, headers=HX)
    assert made.status_code == 200, made.get_data(as_text=True)[:2000]
    product = db.session.scalar(select(LoanProduct).where(LoanProduct.name == "Euro bridge"))
    assert product.terms == [30, 60]
    bad = client.post("/staff/loans/products", data={**form, "liquidation_ltv": "60"}, headers=HX)
    assert bad.status_code == 422
    edit = client.post(f"/staff/loans/products/{product.id}", data={**form, "interest_rate": "8"}, headers=HX)
    assert edit.status_code == 200
    db.session.expire_all()
    assert db.session.get(LoanProduct, product.id).interest_rate == D("8")
    assert loan.id


def test_withdraw_a_pending_application_from_its_page(app, world):
    loan = apply(world)
    client = _customer(app, world)
    page = client.get(f"/loans/{loan.id}").get_data(as_text=True)
    assert "Withdraw application" in page
    token = csrf_token(client, f"/loans/{loan.id}")
    done = client.post(f"/loans/{loan.id}/cancel", data={"csrf_token": token}, headers=HX)
    body = done.get_data(as_text=True)
    assert done.status_code == 200 and "Application withdrawn" in body and "You withdrew this application" in body
    assert done.headers["HX-Trigger"] == "loanChanged"
    assert balances(world.borrower, "BTC") == (D("2"), D("0"))
    again = client.post(f"/loans/{loan.id}/cancel", data={"csrf_token": token}, headers=HX)
    assert again.status_code == 422 and "Only a pending application can be withdrawn" in again.get_data(as_text=True)


def test_a_defaulted_loan_is_repaid_by_its_owner_or_written_off_by_staff(app, world, staff_client_factory):
    loan = active_loan(world, "10000", "0.4")
    set_btc(world.market, "15000")
    loans.check_ltv("BTC/USD")
    customer = _customer(app, world)
    page = customer.get(f"/loans/{loan.id}").get_data(as_text=True)
    assert "Repay the shortfall" in page and "is still owed" in page

    client, _ = staff_client_factory("loans")
    detail = client.get(f"/staff/loans/{loan.id}").get_data(as_text=True)
    assert 'id="loan-write-off"' in detail and "Write off" in detail
    token = csrf_token(client, f"/staff/loans/{loan.id}")
    empty = client.post(f"/staff/loans/{loan.id}/write-off", data={"csrf_token": token, "reason": " "})
    assert empty.status_code == 422 and "Say why." in empty.get_data(as_text=True)
    done = client.post(f"/staff/loans/{loan.id}/write-off", data={"csrf_token": token, "reason": "Uncollectable"})
    assert done.status_code == 303
    shown = client.get(f"/staff/loans/{loan.id}").get_data(as_text=True)
    assert "written off" in shown and 'id="loan-write-off"' not in shown
    db.session.expire_all()
    assert db.session.get(Loan, loan.id).status == "written_off"
    page = customer.get(f"/loans/{loan.id}").get_data(as_text=True)
    assert "nothing more is owed" in page and "Repay the shortfall" not in page
