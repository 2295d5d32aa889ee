"""The loans API: the seed's 3.8 paths and the router's, owners only, staff-only decisions, no
PUT/PATCH/DELETE for customers, Idempotency-Key on the money POSTs."""

from decimal import Decimal

from sqlalchemy import func, select

from tests.api.order_helpers import as_user
from tests.loans.conftest import active_loan, apply, set_btc
from tests.trading_helpers import balances
from tradeapp.extensions import db
from tradeapp.models import Loan, LoanRepayment
from tradeapp.services import loans

D = Decimal
API = "/api/v1"


def _body(w, **extra):
    return {
        "product": w.product.id,
        "amount": "10000",
        "collateral_amount": "0.5",
        "collateral_currency": "BTC",
        **extra,
    }


def test_products_list_and_detail(app, world):
    api = as_user(app, world.borrower)
    page = api.get(f"{API}/loan-products/").get_json()
    assert page["count"] == 1
    product = page["results"][0]
    assert product["collateral_ratio"] == "200.00" and product["interest_rate"] == "12.00"
    assert product["term_options"] == [30, 90] and product["collateral_currencies"] == ["BTC", "ETH"]
    assert api.get(f"{API}/loan-products/{world.product.id}/").status_code == 200
    assert api.get(f"{API}/loan-products/999/").status_code == 404


def test_apply_with_an_idempotency_key_applies_once(app, world):
    api = as_user(app, world.borrower)
    headers = {"Idempotency-Key": "apply-1"}
    first = api.post(f"{API}/loans/", json=_body(world), headers=headers)
    assert first.status_code == 201, first.get_json()
    again = api.post(f"{API}/loans/", json=_body(world), headers=headers)
    assert again.status_code == 201 and again.headers.get("Idempotent-Replayed") == "true"
    assert db.session.scalar(select(func.count()).select_from(Loan)) == 1
    loan = first.get_json()
    assert loan["status"] == "pending" and loan["collateral_amount"] == "0.50000000"
    assert loan["ltv"] == "40.00" and loan["outstanding_balance"] == "10000.00"


def test_apply_errors_say_what_is_missing(app, world, create_user):
    api = as_user(app, world.borrower)
    short = api.post(f"{API}/loans/", json=_body(world, collateral_amount="0.1"))
    assert short.status_code == 400
    assert short.get_json()["error"] == "Minimum collateral: 0.40000000 BTC."
    assert short.get_json()["code"] == "insufficient_collateral"
    unverified = as_user(app, create_user(kyc_status="pending"))
    assert unverified.post(f"{API}/loans/", json=_body(world)).status_code == 403


def test_owners_only_and_no_put_patch_delete(app, world, create_user):
    loan = apply(world)
    other = as_user(app, create_user())
    assert other.get(f"{API}/loans/{loan.id}/").status_code == 404
    assert other.post(f"{API}/loans/{loan.id}/repay/", json={"amount": "1"}).status_code == 404
    owner = as_user(app, world.borrower)
    assert owner.get(f"{API}/loans/{loan.id}/").status_code == 200
    assert owner.patch(f"{API}/loans/{loan.id}/", json={"amount": "1"}).status_code == 405
    assert owner.delete(f"{API}/loans/{loan.id}/").status_code == 405
    assert owner.client.put(f"{API}/loans/{loan.id}/", json={}, headers=owner._headers(None)).status_code == 405
    assert db.session.get(Loan, loan.id).amount == D("10000")


def test_staff_queue_approve_and_reject_customers_get_403(app, world):
    loan = apply(world)
    customer = as_user(app, world.borrower)
    assert customer.get(f"{API}/loans/pending/").status_code == 403
    assert customer.post(f"{API}/loans/{loan.id}/approve/").status_code == 403
    assert customer.post(f"{API}/loans/{loan.id}/reject/", json={"reason": "x"}).status_code == 403
    officer = as_user(app, world.officer)
    pending = officer.get(f"{API}/loans/pending/").get_json()
    assert [x["id"] for x in pending["results"]] == [loan.id]
    answer = officer.post(f"{API}/loans/{loan.id}/approve/")
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json()["message"] == "Loan approved and disbursed"
    assert answer.get_json()["loan"]["status"] == "active"
    second = apply(world, amount="1000", collateral="0.05")
    rejected = officer.post(f"{API}/loans/{second.id}/reject/", json={"reason": "Source of funds unclear"})
    assert rejected.get_json()["loan"]["rejection_reason"] == "Source of funds unclear"
    assert officer.post(f"{API}/loans/{second.id}/approve/").status_code == 409


def test_repay_is_idempotent_and_caps_the_overpayment(app, world):
    loan = active_loan(world)
    api = as_user(app, world.borrower)
    headers = {"Idempotency-Key": "repay-1"}
    first = api.post(f"{API}/loans/{loan.id}/repay/", json={"amount": "10500"}, headers=headers)
    assert first.status_code == 200, first.get_json()
    body = first.get_json()
    assert body["capped"] == "500.00" and body["outstanding_balance"] == "0.00"
    assert body["loan"]["status"] == "repaid" and body["repayment"]["principal_amount"] == "10000.00"
    replay = api.post(f"{API}/loans/{loan.id}/repay/", json={"amount": "10500"}, headers=headers)
    assert replay.status_code == 200 and replay.headers.get("Idempotent-Replayed") == "true"
    assert db.session.scalar(select(func.count()).select_from(LoanRepayment)) == 1
    assert balances(world.borrower, "USD")[0] == D("1000")
    assert api.post(f"{API}/loans/{loan.id}/repay/", json={"amount": "1"}).status_code == 409
    reps = api.get(f"{API}/loan-repayments/").get_json()
    assert reps["count"] == 1 and reps["results"][0]["transaction_detail"]["transaction_type"] == "loan_repayment"
    rid = reps["results"][0]["id"]
    assert api.get(f"{API}/loan-repayments/{rid}/").status_code == 200


def test_schedule_and_add_collateral(app, world):
    loan = active_loan(world)
    api = as_user(app, world.borrower)
    schedule = api.get(f"{API}/loans/{loan.id}/schedule/").get_json()
    assert schedule["rows"][-1]["due"] is not None and schedule["currency"] == "USD"
    more = api.post(f"{API}/loans/{loan.id}/add-collateral/", json={"amount": "0.5"})
    assert more.status_code == 200 and more.get_json()["collateral_amount"] == "1.00000000"
    assert more.get_json()["ltv"] == "20.00"


def test_cancel_a_pending_application_owners_only(app, world, create_user):
    loan = apply(world)
    other = as_user(app, create_user())
    assert other.post(f"{API}/loans/{loan.id}/cancel/").status_code == 404
    owner = as_user(app, world.borrower)
    r = owner.post(f"{API}/loans/{loan.id}/cancel/")
    assert r.status_code == 200 and r.get_json()["status"] == "cancelled"
    assert balances(world.borrower, "BTC") == (D("2"), D("0"))
    again = owner.post(f"{API}/loans/{loan.id}/cancel/")
    assert again.status_code == 409 and again.get_json()["code"] == "illegal_transition"


def test_staff_write_off_of_a_defaulted_loan(app, world):
    loan = active_loan(world, "10000", "0.4")
    set_btc(world.market, "15000")
    loans.check_ltv("BTC/USD")
    customer = as_user(app, world.borrower)
    assert customer.post(f"{API}/loans/{loan.id}/write-off/", json={"reason": "x"}).status_code == 403
    officer = as_user(app, world.officer)
    missing = officer.post(f"{API}/loans/{loan.id}/write-off/", json={})
    assert missing.status_code == 400 and "reason" in missing.get_json()["fields"]
    done = officer.post(f"{API}/loans/{loan.id}/write-off/", json={"reason": "Uncollectable"})
    assert done.status_code == 200 and done.get_json()["loan"]["status"] == "written_off"
    assert done.get_json()["loan"]["outstanding_balance"] in ("0.00", "0")
    again = officer.post(f"{API}/loans/{loan.id}/write-off/", json={"reason": "Uncollectable"})
    assert again.status_code == 409 and again.get_json()["code"] == "illegal_transition"
