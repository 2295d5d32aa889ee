"""Loans under concurrency (PostgreSQL row locks) and a random session that keeps the books exact:
ledger check clean, and the holds equal to what backs the open loans, after every step."""

from collections import Counter, defaultdict
from datetime import timedelta
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from tests.concurrency import race
from tests.conftest import PG_URL
from tests.loans.conftest import PRODUCT, set_btc
from tests.trading_helpers import fund, make_pairs
from tradeapp.errors import DomainError
from tradeapp.extensions import db
from tradeapp.models import Hold, Loan, LoanRepayment, User
from tradeapp.models.loans import OPEN_STATUSES
from tradeapp.services import ledger, loans

D = Decimal
postgres_only = pytest.mark.skipif(not PG_URL, reason="row locks need PostgreSQL")


def assert_books(borrower_ids=None) -> None:
    """The ledger reconciles; every open loan's hold reserves exactly its collateral; closed loans hold nothing;
    the loan book is owed exactly the principal still out (active and defaulted loans)."""
    db.session.expire_all()
    report = ledger.check()
    assert report.ok, report.problems()
    all_loans = db.session.scalars(select(Loan)).all()
    held_by_loans = set()
    for loan in all_loans:
        hold = db.session.get(Hold, loan.hold_id) if loan.hold_id else None
        if loan.status in OPEN_STATUSES:
            assert hold is not None and hold.status == "active", (loan.id, loan.status)
            assert hold.remaining == loan.collateral_amount, (loan.id, hold.remaining, loan.collateral_amount)
            held_by_loans.add(hold.id)
        else:
            assert hold is None or hold.status != "active", (loan.id, loan.status)
    active_collateral_holds = set(
        db.session.scalars(select(Hold.id).where(Hold.reason == "loan_collateral", Hold.status == "active"))
    )
    assert active_collateral_holds == held_by_loans
    out = sum((x.principal_outstanding for x in all_loans if x.status in ("active", "defaulted")), D(0))
    book = ledger.platform_account("loans", "USD").balance if all_loans else D(0)
    assert book == -out
    db.session.rollback()


@postgres_only
@pytest.mark.parametrize("round_", range(4))
def test_a_repayment_racing_a_liquidation_settles_exactly_once(app, world, round_):
    loan = loans.approve(
        world.officer,
        loans.apply(
            world.borrower,
            {
                "product": world.product.id,
                "amount": "10000",
                "collateral_amount": "0.5",
                "collateral_currency": "BTC",
            },
        ).id,
    )
    loan_id, user_id, overdue = loan.id, world.borrower.id, loan.due_date + timedelta(days=10)
    set_btc(world.market, "50000", size="5", levels=10)
    db.session.rollback()

    def work(i):
        if (i + round_) % 2 == 0:
            loans.repay(db.session.get(User, user_id), loan_id, "10000")
        elif loans.liquidate(loan_id, "overdue", overdue) is None:
            raise DomainError("nothing to liquidate")

    results = race(app, 2, work, refused=(DomainError,))
    assert sorted(results) == ["insufficient", "ok"], results
    db.session.expire_all()
    loan = db.session.get(Loan, loan_id)
    assert loan.status == "repaid"
    repayments = db.session.scalars(select(LoanRepayment).where(LoanRepayment.loan_id == loan_id)).all()
    assert len(repayments) == 1 and repayments[0].principal_amount == D("10000")
    assert_books()


STEP = st.one_of(
    st.tuples(st.just("apply"), st.sampled_from(["1000", "5000", "12000"]), st.sampled_from(["2.0", "2.4", "3"])),
    st.tuples(st.just("approve"), st.integers(0, 5), st.integers(0, 1)),
    st.tuples(st.just("reject"), st.integers(0, 5)),
    st.tuples(st.just("accrue"), st.integers(1, 40)),
    st.tuples(st.just("repay"), st.integers(0, 5), st.sampled_from(["5", "300", "4000", "20000"])),
    st.tuples(st.just("collateral"), st.integers(0, 5), st.sampled_from(["0.01", "0.1"])),
    st.tuples(st.just("price"), st.sampled_from([52000, 45000, 38000, 33000, 29000, 26000, 20000, 14000])),
    st.tuples(st.just("overdue"), st.integers(25, 120)),
)
steps = st.lists(STEP, min_size=4, max_size=14)
EVERY_KIND = [
    ("apply", "12000", "2.4"),
    ("approve", 0, 0),
    ("approve", 0, 1),
    ("apply", "1000", "2.0"),
    ("reject", 1),
    ("accrue", 10),
    ("repay", 0, "300"),
    ("collateral", 0, "0.01"),
    ("price", 33000),
    ("price", 26000),
    ("apply", "5000", "3"),
    ("approve", 2, 1),
    ("overdue", 60),
    ("repay", 2, "20000"),
]


@postgres_only
def test_random_loan_sessions_keep_the_books_exact(app, db, create_user, create_staff, market):
    attempted: Counter = Counter()
    succeeded: Counter = Counter()

    @settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(session=steps)
    @example(session=EVERY_KIND)
    def run(session):
        _session(db, create_user, create_staff, market, session, attempted, succeeded)

    run()
    for kind in ("apply", "approve", "accrue", "repay", "price"):
        assert succeeded[kind] > 0, (kind, attempted, succeeded)
    assert succeeded["liquidated"] > 0, succeeded


def _session(db, create_user, create_staff, market, session, attempted, succeeded, refused=None) -> None:
    refused = refused if refused is not None else defaultdict(list)
    from tests.conftest import _empty_tables

    db.session.remove()
    _empty_tables(db)
    make_pairs(db)
    set_btc(market, "50000", size="50", levels=10, step="5")
    officers = [create_staff(role="loans"), create_staff(role="loans")]
    price = D(50000)
    product = loans.save_product(create_staff(role="admin"), PRODUCT)
    user = create_user(kyc_status="approved", is_verified=True)
    fund(user, "BTC", "1")
    fund(user, "USD", "3000")
    made: list[int] = []
    day = 0
    for step in session:
        kind = step[0]
        if kind in ("approve", "reject", "repay", "collateral") and not made:
            continue
        attempted[kind] += 1
        try:
            if kind == "apply":
                # collateral = amount / price × factor (2.0 is exactly the initial 50 % at today's price)
                need = (D(step[1]) / price * D(step[2])).quantize(D("0.00000001"))
                made.append(
                    loans.apply(
                        user,
                        {
                            "product": product.id,
                            "amount": step[1],
                            "collateral_amount": str(need),
                            "collateral_currency": "BTC",
                        },
                    ).id
                )
            elif kind == "approve":
                loans.approve(officers[step[2]], made[step[1] % len(made)])
            elif kind == "reject":
                loans.reject(officers[0], made[step[1] % len(made)], "Not this time")
            elif kind == "accrue":
                day += step[1]
                loans.accrue_all(_today() + timedelta(days=day))
            elif kind == "repay":
                loans.repay(user, made[step[1] % len(made)], step[2])
            elif kind == "collateral":
                loans.add_collateral(user, made[step[1] % len(made)], step[2])
            elif kind == "price":
                price = D(step[1])
                set_btc(market, str(step[1]), size="50", levels=10, step="5")
                counts = loans.check_ltv("BTC/USD")
                succeeded["liquidated"] += counts["liquidated"]
            elif kind == "overdue":
                counts = loans.liquidate_overdue(_today() + timedelta(days=step[1]))
                succeeded["liquidated"] += counts
            succeeded[kind] += 1
        except DomainError as exc:
            db.session.rollback()
            refused[kind].append(exc.message)
        assert_books()


def _today():
    from tradeapp.models.types import utcnow

    return utcnow().date()
