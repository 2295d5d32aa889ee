"""The batched copy path books exactly the rows the per-follower path (``orders.place``) books.

Two cohorts of identical followers copy the same master orders in the same batches: one cohort's
copies go through :func:`tradeapp.services.copy_trading.batch.fill`, the other's are forced
through ``place`` one by one. Every row of each follower (wallets, holds, orders, trades, journal
entries and postings, history lines, positions, copied positions, copy rows, subscription,
notifications) must be the same for their twin, ids and clocks aside.
"""

import re
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlalchemy import or_, select

from tests.copy_trading.helpers import buy, follow, sell
from tests.trading_helpers import fund
from tradeapp.errors import DomainError
from tradeapp.extensions import db
from tradeapp.models import (
    AccountControl,
    CopiedTrade,
    CopyPosition,
    CopySubscription,
    Hold,
    JournalEntry,
    Notification,
    Order,
    PlatformAccount,
    Position,
    Posting,
    Trade,
    Transaction,
    Wallet,
)
from tradeapp.services import ledger
from tradeapp.services.copy_trading import batch, engine, subscriptions
from tradeapp.services.ledger import InsufficientFunds, Leg

D = Decimal

#: (USD funded, subscription fields): sizes that copy, cap, skip below the minimum, and a paused one
FOLLOWERS = [
    ("10000", {}),
    ("5000", {"copy_percentage": "50"}),
    ("20000", {"max_position_size": "1500"}),
    ("3000", {}),
    ("0.40", {}),
    ("8000", {"slippage_percentage": "0.01"}),
    ("7000", {"paused": True}),
]


def _make(create_user, lead, prefix: str) -> list:
    users = []
    for i, (usd, fields) in enumerate(FOLLOWERS):
        user = create_user(email=f"{prefix}{i}@example.com", username=f"{prefix}{i}")
        fund(user, "USD", usd)
        fields = dict(fields)
        paused = fields.pop("paused", False)
        sub = follow(user, lead, **fields)
        if paused:
            subscriptions.update_subscription(user, sub.id, {"is_active": False})
        users.append(user)
    return users


@pytest.fixture()
def cohorts(lead, create_user):
    """Twin followers subscribed in alternation (so both cohorts share every batch): (batched, one by one)."""
    batched, single = [], []
    for i, spec in enumerate(FOLLOWERS):
        for prefix, out in (("a", batched), ("b", single)):
            user = create_user(email=f"{prefix}{i}@example.com", username=f"{prefix}{i}")
            fund(user, "USD", spec[0])
            fields = dict(spec[1])
            paused = fields.pop("paused", False)
            sub = follow(user, lead, **fields)
            if paused:
                subscriptions.update_subscription(user, sub.id, {"is_active": False})
            out.append(user.id)
    return batched, single


@pytest.fixture()
def one_by_one(monkeypatch, cohorts):
    """The second cohort's copies never go to the batch; counts the orders placed one by one."""
    _batched, single = cohorts
    real_take, real_place = batch.Gate.take, engine.place
    placed = []

    def take(self, plan):
        return plan.sub.follower_id not in single and real_take(self, plan)

    def place(user_id, *args, **kwargs):
        placed.append(user_id)
        return real_place(user_id, *args, **kwargs)

    monkeypatch.setattr(batch.Gate, "take", take)
    monkeypatch.setattr(engine, "place", place)
    return placed


def _ids(pattern: str, text: str, mapping: dict) -> str:
    return re.sub(pattern, lambda m: m.group(0).replace(m.group(1), f"#{mapping.get(int(m.group(1)), '?')}"), text)


def snapshot(user_id: int) -> dict:
    """Every row of the follower's copies, ids replaced by their rank among the follower's rows, clocks dropped."""
    db.session.expire_all()
    wallets = {w.id: w for w in db.session.scalars(select(Wallet).where(Wallet.user_id == user_id))}
    holds = db.session.scalars(select(Hold).where(Hold.wallet_id.in_(wallets)).order_by(Hold.id)).all()
    orders = db.session.scalars(select(Order).where(Order.user_id == user_id).order_by(Order.id)).all()
    trades = db.session.scalars(select(Trade).where(Trade.user_id == user_id).order_by(Trade.id)).all()
    hold_no = {h.id: i for i, h in enumerate(holds)}
    order_no = {o.id: i for i, o in enumerate(orders)}
    trade_no = {t.id: i for i, t in enumerate(trades)}
    entry_ids = sorted(
        set(db.session.scalars(select(Posting.entry_id).where(Posting.wallet_id.in_(wallets))))
        | {t.entry_id for t in trades}
    )
    entry_no = {e: i for i, e in enumerate(entry_ids)}
    platforms = {p.id: p.code for p in db.session.scalars(select(PlatformAccount))}

    def text(value: str) -> str:
        value = _ids(r"order[: ](\d+)", value, order_no)
        value = re.sub(r"copy:\d+", "copy:(the subscription)", value)
        return _ids(r"TRD-(\d+)", value, trade_no)

    entries = []
    for entry in db.session.scalars(
        select(JournalEntry).where(JournalEntry.id.in_(entry_ids)).order_by(JournalEntry.id)
    ):
        postings = [
            (
                wallets[p.wallet_id].currency if p.wallet_id is not None else platforms[p.platform_account_id],
                p.currency,
                p.amount,
            )
            for p in entry.postings
        ]
        entries.append((entry.kind, text(entry.memo), text(entry.reference), postings))
    sub = db.session.scalar(select(CopySubscription).where(CopySubscription.follower_id == user_id))
    return {
        "wallets": sorted((w.currency, w.balance, w.locked_balance) for w in wallets.values()),
        "holds": [
            (
                wallets[h.wallet_id].currency,
                h.reason,
                text(h.reference),
                h.amount,
                h.remaining,
                h.posted_total,
                h.status,
                h.closed_at is None,
            )
            for h in holds
        ],
        "orders": [
            (
                o.order_type,
                o.side,
                o.quantity,
                o.price,
                o.stop_price,
                o.filled_quantity,
                o.average_price,
                o.status,
                o.fee,
                o.source,
                o.source_id,
                o.position_id,
                o.trigger_key,
                o.trigger_price,
                o.triggered_at,
                hold_no.get(o.hold_id),
                o.status_reason,
                o.executed_at is None,
            )
            for o in orders
        ],
        "trades": [
            (
                order_no[t.order_id],
                t.side,
                t.quantity,
                t.price,
                t.notional,
                t.fee,
                t.liquidity,
                t.realized_pnl,
                entry_no[t.entry_id],
                t.external_trade_id,
            )
            for t in trades
        ],
        "entries": entries,
        "history": [
            (
                x.transaction_type,
                x.currency,
                x.amount,
                x.fee,
                x.status,
                text(x.reference_id),
                x.direction,
                text(x.notes),
                entry_no.get(x.entry_id),
                x.external_id,
                x.counterparty_id,
            )
            for x in db.session.scalars(
                select(Transaction).where(Transaction.user_id == user_id).order_by(Transaction.id)
            )
        ],
        "positions": [
            (p.pair_id, p.side, p.quantity, p.entry_price, p.realized_pnl, p.leverage, p.stop_loss, p.take_profit)
            for p in db.session.scalars(select(Position).where(Position.user_id == user_id).order_by(Position.id))
        ],
        "copy_positions": [
            (p.pair_id, p.quantity, p.cost)
            for p in db.session.scalars(
                select(CopyPosition).where(CopyPosition.subscription_id == sub.id).order_by(CopyPosition.id)
            )
        ],
        "copies": [
            (c.status, c.reason, c.detail, c.realized_pnl, order_no.get(c.follower_order_id))
            for c in db.session.scalars(
                select(CopiedTrade).where(CopiedTrade.subscription_id == sub.id).order_by(CopiedTrade.id)
            )
        ],
        "subscription": (
            sub.status,
            sub.allocated_amount,
            sub.realized_profit,
            sub.cash,
            hold_no.get(sub.hold_id),
            sub.status_reason,
        ),
        "notifications": [
            (n.kind, n.title, n.body, n.link)
            for n in db.session.scalars(
                select(Notification).where(Notification.user_id == user_id).order_by(Notification.id)
            )
        ],
    }


def _assert_twins(cohorts) -> None:
    batched, single = cohorts
    for a, b in zip(batched, single, strict=True):
        left, right = snapshot(a), snapshot(b)
        for key in left:
            assert left[key] == right[key], (key, FOLLOWERS[batched.index(a)])
    report = ledger.check()
    assert report.ok, report.problems()


@pytest.mark.parametrize("level_size", ["50", "0.02"], ids=["one-level", "walks-levels"])
def test_batched_copies_book_exactly_what_placing_each_one_books(market, pairs, lead, cohorts, one_by_one, level_size):
    market.set("BTC/USD", "50000", "50010", levels=10, size=level_size, step="10")
    buy(lead, "1")
    _assert_twins(cohorts)
    batched, single = cohorts
    # the batched cohort's orders were not placed one by one; the other cohort's were
    assert not set(one_by_one) & set(batched)
    assert set(one_by_one) <= set(single) and one_by_one
    copied = db.session.scalars(select(CopiedTrade.status).where(CopiedTrade.status == "copied")).all()
    assert len(copied) >= 8  # four of each cohort at least: the comparison is not of empty books

    sell(lead, "0.1")  # a partial sell: the same fraction of each copied position
    _assert_twins(cohorts)
    statuses = {c.status for c in db.session.scalars(select(CopiedTrade))}
    assert statuses == {"copied", "skipped"}
    realized = db.session.scalars(select(CopiedTrade.realized_pnl).where(CopiedTrade.realized_pnl.is_not(None))).all()
    assert len(realized) >= 8


def test_a_mixed_batch_skips_with_reasons_and_one_failing_follower_costs_only_their_copy(
    market, pairs, lead, create_user
):
    """Skipped (paused, below the minimum), copied, and a frozen account whose order is refused: the
    batch fails, its followers are copied one per transaction, and only the frozen one fails."""
    market.set("BTC/USD", "50000", "50010", levels=10, size="50", step="10")
    users = _make(create_user, lead, "m")
    frozen = users[1]
    db.session.add(AccountControl(user_id=frozen.id, frozen_at=datetime.now(UTC), frozen_reason="test"))
    db.session.commit()
    buy(lead, "1")
    rows = {
        c.subscription.follower_id: c
        for c in db.session.scalars(select(CopiedTrade).order_by(CopiedTrade.subscription_id))
    }
    outcome = [(rows[u.id].status, rows[u.id].reason) for u in users]
    assert outcome == [
        ("copied", ""),
        ("failed", "order_failed"),
        ("copied", ""),
        ("copied", ""),
        ("skipped", "below_minimum"),
        ("copied", ""),
        ("skipped", "paused"),
    ]
    assert "frozen" in rows[frozen.id].detail
    assert rows[frozen.id].follower_order_id is None
    assert db.session.scalar(select(Order.id).where(Order.user_id == frozen.id)) is None
    report = ledger.check()
    assert report.ok, report.problems()


def test_the_batch_copies_a_whole_batch_with_a_few_statements(market, pairs, lead, create_user, app):
    """Statements grow with batches, not with followers: 40 followers in one batch."""
    from sqlalchemy import event

    market.set("BTC/USD", "50000", "50010", levels=10, size="50", step="10")
    for i in range(40):
        user = create_user(email=f"s{i}@example.com", username=f"s{i}")
        fund(user, "USD", "1000")
        follow(user, lead)
    statements = []

    def note(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    with pytest.MonkeyPatch.context() as m:
        m.setattr("tradeapp.services.uow.enqueue", lambda *a, **k: None)
        master = buy(lead, "1")
    signal_id = db.session.scalar(select(engine.CopySignal.id).where(engine.CopySignal.master_order_id == master.id))
    db.session.rollback()
    event.listen(db.engine, "before_cursor_execute", note)
    try:
        totals = engine.copy_signal(signal_id, batch=200)
    finally:
        event.remove(db.engine, "before_cursor_execute", note)
    assert totals == {"copied": 40}
    if db.engine.dialect.name == "postgresql":  # SQLite sends a RETURNING insert row by row
        assert len(statements) < 80, len(statements)
    report = ledger.check()
    assert report.ok, report.problems()


# -- the ledger primitive -------------------------------------------------------------------------


def _locked_wallet(user, currency="USD") -> Wallet:
    wallet = ledger.wallet_for(user, currency)
    return ledger.lock_wallets([wallet.id])[wallet.id]


def test_ledger_batch_checks_what_the_one_row_calls_check(create_user):
    user = create_user(email="lb@example.com", username="lb")
    fund(user, "USD", "100")
    wallet = _locked_wallet(user)
    books = ledger.LedgerBatch([wallet])
    with pytest.raises(InsufficientFunds):
        books.place_hold(wallet, D("100.01"), "order", "x")
    hold = books.place_hold(wallet, D("60"), "order", "x")
    with pytest.raises(InsufficientFunds):
        books.place_hold(wallet, D("40.01"), "order", "y")  # 40 is what is left available
    fees = ledger.platform_account("fees", "USD")
    with pytest.raises(ledger.LedgerError):
        books.settle_hold(hold, D("60.01"), [Leg(fees, D("60.01"))], kind="trade")
    with pytest.raises(ledger.LedgerError):
        books.settle_hold(hold, D("10"), [Leg(fees, D("9"))], kind="trade")  # does not balance
    entry = books.settle_hold(hold, D("10"), [Leg(fees, D("10"))], kind="trade", memo="m")
    books.release_hold(hold)
    with pytest.raises(DomainError):
        books.release_hold(hold)  # a closed hold
    books.flush()
    db.session.commit()
    stored = db.session.get(Hold, hold.id)
    assert (stored.amount, stored.remaining, stored.posted_total, stored.status) == (D("60"), 0, D("10"), "posted")
    assert [p.amount for p in db.session.get(JournalEntry, entry.id).postings] == [D("-10"), D("10")]
    db.session.expire_all()
    assert (db.session.get(Wallet, wallet.id).balance, db.session.get(Wallet, wallet.id).locked_balance) == (
        D("90"),
        0,
    )
    report = ledger.check()
    assert report.ok, report.problems()


def test_ledger_batch_refuses_wallets_and_holds_it_was_not_given(create_user):
    one = create_user(email="lb1@example.com", username="lb1")
    two = create_user(email="lb2@example.com", username="lb2")
    fund(one, "USD", "10")
    fund(two, "USD", "10")
    wallet = _locked_wallet(one)
    other = ledger.wallet_for(two, "USD")
    books = ledger.LedgerBatch([wallet])
    with pytest.raises(ledger.LedgerError):
        books.place_hold(other, D("1"), "order")
    hold = ledger.place_hold(_locked_wallet(two), D("5"), "order")
    db.session.commit()
    wallet = _locked_wallet(one)
    books = ledger.LedgerBatch([wallet, db.session.get(Wallet, hold.wallet_id)])
    with pytest.raises(ledger.LedgerError):
        books.release_hold(db.session.get(Hold, hold.id), D("1"))  # the hold was not locked
    db.session.rollback()
    assert not db.session.scalars(select(Hold).where(or_(Hold.status != "active"))).all()


def test_referral_commission_accrues_on_batched_copies_as_on_placed_ones(market, pairs, lead, create_user, monkeypatch):
    """The fee hooks (a referrer's commission) see a batched copy's fill as they see a placed one's."""
    from tests.referrals.helpers import approve_kyc, setup_programme, sign_up
    from tradeapp.models import ReferralAccrual

    market.set("BTC/USD", "50000", "50010", levels=10, size="50", step="10")
    setup_programme()
    referrer = create_user(email="ref@example.com", username="referrer")
    twins = []
    for _ in range(2):
        friend = sign_up(referrer)
        approve_kyc(friend)
        fund(friend, "USD", "10000")
        follow(friend, lead)
        twins.append(friend.id)
    real_take = batch.Gate.take
    monkeypatch.setattr(
        batch.Gate, "take", lambda self, plan: plan.sub.follower_id != twins[1] and real_take(self, plan)
    )
    buy(lead, "1")
    rows = {
        a.referee_id: (a.referrer_id, a.currency, a.fee, a.percentage, a.amount)
        for a in db.session.scalars(select(ReferralAccrual))
    }
    assert set(rows) == set(twins)
    assert rows[twins[0]] == rows[twins[1]] and rows[twins[0]][2] > 0
