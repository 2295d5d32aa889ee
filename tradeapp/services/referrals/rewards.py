"""Referral rewards: created by the hooks of KYC, deposits and fills, paid after clearing, clawed back.

Hooks run inside the caller's unit of work (the KYC decision, the deposit credit or refund, the
fill), so a reward exists if and only if the event that earned it committed. Each reward has a
unique key; creating it is an ``INSERT … ON CONFLICT DO NOTHING``, so a replayed webhook or a
re-run job never creates it twice.

Payout (:func:`pay_due_rewards`, the ``pay_referral_rewards`` job): each reward in its own
transaction, locked, re-checked, posted in the ledger from ``referral_bonus``, linked to its entry
and history line and marked paid — all or nothing, so a killed or parallel run pays it once.

Clawback: a paid reward whose ground went away (a refunded or charged-back first deposit, a
self-referral found later) takes the money back from the referrer's available balance; what is
not available is recorded as ``clawback_outstanding`` and kept from their next rewards. Nothing
goes negative.
"""

import logging
import secrets
from datetime import date, datetime, timedelta
from decimal import ROUND_DOWN, Decimal

from sqlalchemy import delete, event, func, select
from sqlalchemy.orm import Session
from sqlalchemy.orm.util import identity_key

from tradeapp import realtime
from tradeapp.currencies import get_currency
from tradeapp.errors import IllegalTransition, NotFound, PermissionDenied, ValidationFailed
from tradeapp.extensions import db
from tradeapp.models import (
    Deposit,
    PlatformAccount,
    Posting,
    Referral,
    ReferralAccrual,
    ReferralReward,
    Trade,
    Transaction,
    User,
)
from tradeapp.models.types import utcnow
from tradeapp.permissions import has_permission
from tradeapp.services import audit, ledger, rows
from tradeapp.services.ledger import Leg
from tradeapp.services.notifications import notify, register_kind
from tradeapp.services.referrals import abuse, programme
from tradeapp.services.trading import execution, prices
from tradeapp.services.uow import current as current_unit
from tradeapp.services.uow import unit_of_work

log = logging.getLogger(__name__)

ZERO = Decimal(0)
BONUS_ACCOUNT = "referral_bonus"
TYPE_LABELS = {
    "signup": "Sign-up bonus",
    "first_deposit": "First-deposit bonus",
    "trading_commission": "Trading commission",
}

REFERRAL_JOINED = register_kind("referral_joined", "A friend joined with your link", email=False)
REWARD_EARNED = register_kind("referral_reward_earned", "Referral reward earned", email=False)
REWARD_PAID = register_kind("referral_reward_paid", "Referral reward paid", email=True)
REWARD_LOST = register_kind("referral_reward_cancelled", "Referral reward cancelled or clawed back", email=True)

LINK = "/referrals/"


def _money(amount: Decimal, currency: str) -> str:
    return f"{amount:,.{get_currency(currency).decimals}f} {currency}"


# -- sign-up ---------------------------------------------------------------------------------------


def record_signup(referee: User, *, ip: str = "", device: str = "") -> Referral | None:
    """Note who referred ``referee`` (just registered with a code) and check it: called by registration.

    Same mailbox or phone as the referrer: the referral is disqualified at once. A burst of
    sign-ups from one IP or device: those referrals are held, so their rewards wait for staff.
    """
    if referee.referred_by_id is None:
        return None
    with unit_of_work():
        referrer = db.session.get(User, referee.referred_by_id)
        referral = Referral(
            referrer_id=referrer.id, referee_id=referee.id, signup_ip=(ip or "")[:45], device=(device or "")[:64]
        )
        db.session.add(referral)
        db.session.flush()
        reason = abuse.same_contact(referrer, referee)
        if reason:
            referral.status, referral.reason = "disqualified", reason
            audit.record(None, "referrals.disqualified", referral, after={"reason": reason}, ip=ip or "")
            return referral
        crowd = abuse.burst(referral, programme.settings())
        for other in crowd:
            if other.status == "active":
                _hold_referral(other, f"{len(crowd)} referred sign-ups from one IP address or device in a short time.")
        notify(
            referrer.id,
            REFERRAL_JOINED,
            f"{referee.username} joined with your referral link",
            "You earn rewards once they verify their identity, deposit and trade.",
            link=LINK,
            dedupe_key=f"referral_joined:{referee.id}",
        )
    return referral


def _hold_referral(referral: Referral, reason: str) -> None:
    referral.status, referral.reason = "held", reason
    audit.record(None, "referrals.held", referral, after={"reason": reason}, ip="")
    for reward in _rewards_of(referral.referee_id, ("pending",)):
        reward.transition_to("held")
        reward.reason = reason


def _referral(referee_id: int) -> Referral | None:
    return db.session.scalar(
        select(Referral)
        .where(Referral.referee_id == referee_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )


def _rewards_of(referee_id: int, statuses: tuple[str, ...]) -> list[ReferralReward]:
    return list(
        db.session.scalars(
            select(ReferralReward)
            .where(ReferralReward.referee_id == referee_id, ReferralReward.status.in_(statuses))
            .order_by(ReferralReward.id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    )


def disqualify(referral: Referral, reason: str, actor: User | None = None) -> None:
    """Self-referral found: the referral stops counting, unpaid rewards are cancelled, paid ones clawed back."""
    referral.status, referral.reason = "disqualified", reason
    audit.record(actor, "referrals.disqualified", referral, after={"reason": reason}, ip=None if actor else "")
    for reward in _rewards_of(referral.referee_id, ("pending", "held", "paid")):
        _take_back(reward, reason)
    db.session.execute(
        delete(ReferralAccrual).where(
            ReferralAccrual.referee_id == referral.referee_id, ReferralAccrual.reward_id.is_(None)
        )
    )


# -- creating rewards --------------------------------------------------------------------------------


def _month_start(now: datetime) -> datetime:
    return now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def _earned_this_month(referrer_id: int, currency: str, now: datetime) -> Decimal | None:
    """What the referrer earned since the 1st (rewards not cancelled), in ``currency``; None without a price."""
    found = db.session.execute(
        select(ReferralReward.currency, ReferralReward.amount).where(
            ReferralReward.referrer_id == referrer_id,
            ReferralReward.created_at >= _month_start(now),
            ReferralReward.status.not_in(("cancelled", "clawed_back")),
        )
    )
    total = ZERO
    for cur, amount in found:
        if cur == currency:
            total += amount
            continue
        converted = prices.convert(amount, cur, currency)
        if converted is None:
            return None
        total += converted.amount
    return total


def _capped(referrer_id: int, amount: Decimal, currency: str, now: datetime) -> tuple[Decimal, str]:
    """``(amount after the monthly cap, reason)``: the cap is in the programme's currency."""
    conf = programme.settings()
    if conf.monthly_cap <= 0:
        return amount, ""
    used = _earned_this_month(referrer_id, conf.currency, now)
    if used is None:
        return amount, "hold: no price to apply the monthly cap"
    room = max(conf.monthly_cap - used, ZERO)
    if currency != conf.currency:
        converted = prices.convert(room, conf.currency, currency)
        if converted is None:
            return amount, "hold: no price to apply the monthly cap"
        room = converted.amount
    room = room.quantize(programme.quantum(currency), ROUND_DOWN)
    if amount <= room:
        return amount, ""
    if room <= 0:
        return ZERO, "Monthly cap reached."
    return room, f"Reduced to the monthly cap of {_money(conf.monthly_cap, conf.currency)}."


def _lock_referrer(referrer_id: int) -> None:
    """Rewards of one referrer are created one at a time, so two cannot both fit under the monthly cap."""
    db.session.execute(select(User.id).where(User.id == referrer_id).with_for_update(key_share=True))


def create_reward(
    referral: Referral,
    reward_type: str,
    amount: Decimal,
    currency: str,
    key: str,
    *,
    deposit_id: int | None = None,
    now: datetime | None = None,
) -> ReferralReward | None:
    """Create the reward ``key`` once (None when it already exists or the referral is disqualified).

    Pending until ``clearing_days`` have passed; held when the referral is held; cut to the
    monthly cap (cancelled when nothing is left).
    """
    if referral.status == "disqualified" or amount <= 0:
        return None
    now = now or utcnow()
    _lock_referrer(referral.referrer_id)
    if db.session.scalar(select(ReferralReward.id).where(ReferralReward.key == key)) is not None:
        return None
    conf = programme.settings()
    paid, reason = _capped(referral.referrer_id, amount, currency, now)
    status = "pending"
    if reason.startswith("hold:"):
        status, reason = "held", reason.removeprefix("hold: ").capitalize() + "."
    elif paid == 0:
        status = "cancelled"
    elif referral.status == "held":
        status, reason = "held", referral.reason
    inserted = db.session.execute(
        rows.upsert_insert(ReferralReward)
        .values(
            key=key,
            referrer_id=referral.referrer_id,
            referee_id=referral.referee_id,
            reward_type=reward_type,
            currency=currency,
            amount=paid,
            gross_amount=amount,
            status=status,
            clears_at=now + timedelta(days=conf.clearing_days),
            reason=reason,
            deposit_id=deposit_id,
            offset_amount=ZERO,
            clawback_outstanding=ZERO,
            created_at=now,
            closed_at=now if status == "cancelled" else None,
        )
        .on_conflict_do_nothing(index_elements=["key"])
        .returning(ReferralReward.id)
    ).scalar()
    if inserted is None:
        return None
    reward = db.session.get(ReferralReward, inserted)
    referee = db.session.get(User, referral.referee_id)
    if status == "cancelled":
        title = f"{TYPE_LABELS[reward_type]} from {referee.username} not paid: monthly cap reached"
    else:
        title = f"You earned {_money(paid, currency)}: {TYPE_LABELS[reward_type].lower()} from {referee.username}"
    body = "It is paid once the clearing period is over." if status == "pending" else reason
    notify(referral.referrer_id, REWARD_EARNED, title, body, link=LINK, dedupe_key=f"referral_earned:{reward.id}")
    return reward


# -- hooks -------------------------------------------------------------------------------------------


def on_kyc_approved(user_id: int) -> ReferralReward | None:
    """The referee's identity is verified: the referral qualifies and earns the sign-up reward (once)."""
    with unit_of_work():
        referral = _referral(user_id)
        if referral is None or referral.status == "disqualified":
            return None
        reason = abuse.same_contact(referral.referrer, referral.referee) or abuse.same_document(
            referral.referrer_id, user_id
        )
        if reason:
            disqualify(referral, reason)
            return None
        if referral.qualified_at is None:
            referral.qualified_at = utcnow()
            db.session.flush()
        conf = programme.settings()
        tier = programme.tier_for(programme.qualified_count(referral.referrer_id))
        amount = conf.signup_bonus + (tier.bonus_amount if tier is not None else ZERO)
        return create_reward(referral, "signup", amount, conf.currency, f"signup:{user_id}")


def _reaches_minimum(amount: Decimal, currency: str, minimum: Decimal, minimum_currency: str) -> bool:
    if currency == minimum_currency:
        return amount >= minimum
    converted = prices.convert(amount, currency, minimum_currency)
    return converted is not None and converted.amount >= minimum


def on_deposit_completed(deposit: Deposit) -> ReferralReward | None:
    """A deposit of a referee was credited: the first one reaching the minimum earns the first-deposit reward."""
    with unit_of_work():
        referral = _referral(deposit.user_id)
        if referral is None or referral.status == "disqualified":
            return None
        key = f"first_deposit:{deposit.user_id}"
        if db.session.scalar(select(ReferralReward.id).where(ReferralReward.key == key)) is not None:
            return None
        conf = programme.settings()
        amount = deposit.credited_amount if deposit.credited_amount is not None else deposit.amount
        if not _reaches_minimum(amount, deposit.currency, conf.first_deposit_minimum, conf.currency):
            return None
        reason = abuse.same_card(referral.referrer_id, deposit)
        if reason:
            disqualify(referral, reason)
            return None
        return create_reward(
            referral, "first_deposit", conf.first_deposit_bonus, conf.currency, key, deposit_id=deposit.id
        )


def on_deposit_reversed(deposit_id: int, reason: str) -> list[ReferralReward]:
    """A deposit was refunded or charged back: the reward it earned is cancelled, or clawed back if paid."""
    with unit_of_work():
        found = list(
            db.session.scalars(
                select(ReferralReward)
                .where(ReferralReward.deposit_id == deposit_id, ReferralReward.status.in_(("pending", "held", "paid")))
                .with_for_update()
                .execution_options(populate_existing=True)
            )
        )
        for reward in found:
            _take_back(reward, reason)
    return found


#: per transaction: trader id → (referrer id, commission %) or None (nobody referred them, or disqualified)
_CONTEXT = "referrals.commission_context"


@event.listens_for(Session, "after_transaction_end")
def _forget_context(session: Session, transaction) -> None:
    if transaction.parent is None:
        session.info.pop(_CONTEXT, None)


def _commission_context(trader_id: int) -> tuple[int, Decimal] | None:
    """Who earns on this trader's fees and at what rate, read once per transaction (an order's fills share it)."""
    cache = db.session.info.setdefault(_CONTEXT, {})
    if trader_id not in cache:
        # A referral row exists only for a user who signed up with a code (``referred_by_id``): when
        # the user is loaded (the request's own user always is), one without a referrer costs no query.
        user = db.session.identity_map.get(identity_key(User, trader_id))
        if user is not None and "referred_by_id" in user.__dict__ and user.referred_by_id is None:
            cache[trader_id] = None
            return None
        row = db.session.execute(
            select(Referral.referrer_id, Referral.status).where(Referral.referee_id == trader_id)
        ).first()
        if row is None or row.status == "disqualified":
            cache[trader_id] = None
        else:
            pct = programme.commission_percentage(row.referrer_id)
            cache[trader_id] = (row.referrer_id, pct) if pct > 0 else None
    return cache[trader_id]


def prime_commission_contexts(user_ids: list[int]) -> None:
    """Read at once which of these traders nobody referred (a batch of fills): their fills then ask nothing."""
    cache = db.session.info.setdefault(_CONTEXT, {})
    ids = sorted(set(user_ids) - set(cache))
    if not ids:
        return
    referred = set(db.session.scalars(select(Referral.referee_id).where(Referral.referee_id.in_(ids))))
    for user_id in ids:
        if user_id not in referred:
            cache[user_id] = None


def accrue_commission(
    trade: Trade, fees_account: PlatformAccount, fee: Decimal | None = None
) -> ReferralAccrual | None:
    """The referrer's share of the fee a referee's fill posted to ``fees`` (exact; summed daily).

    Called by the fill inside its transaction with the amount of its posting to ``fees`` (read
    from that posting when not given); one accrual per fee entry (unique ``entry_id``).
    """
    context = _commission_context(trade.user_id)
    if context is None:
        return None
    referrer_id, pct = context
    if fee is None:
        fee = db.session.scalar(
            select(Posting.amount).where(
                Posting.entry_id == trade.entry_id, Posting.platform_account_id == fees_account.id
            )
        )
    if fee is None or fee <= 0:
        return None
    accrual = ReferralAccrual(
        referrer_id=referrer_id,
        referee_id=trade.user_id,
        entry_id=trade.entry_id,
        trade_id=trade.id,
        currency=fees_account.currency,
        fee=fee,
        percentage=pct,
        amount=fee * pct / 100,
        accrued_on=trade.executed_at.date(),
    )
    db.session.add(accrual)
    return accrual


def sum_commissions(today: date | None = None) -> int:
    """Turn the accruals of days before ``today`` into one ``trading_commission`` reward per referee and currency.

    The sum is rounded down to the currency's unit once; a sum under one unit stays open and is
    carried into the next day's. Each group is its own transaction; its accruals are claimed
    under lock, so two runs never count one accrual twice. Returns the rewards created.
    """
    today = today or utcnow().date()
    groups = db.session.execute(
        select(ReferralAccrual.referrer_id, ReferralAccrual.referee_id, ReferralAccrual.currency)
        .where(ReferralAccrual.reward_id.is_(None), ReferralAccrual.accrued_on < today)
        .group_by(ReferralAccrual.referrer_id, ReferralAccrual.referee_id, ReferralAccrual.currency)
    ).all()
    db.session.rollback()
    created = 0
    for referrer_id, referee_id, currency in groups:
        if _sum_group(referrer_id, referee_id, currency, today):
            created += 1
    return created


def _sum_group(referrer_id: int, referee_id: int, currency: str, today: date) -> bool:
    with unit_of_work() as uow:
        referral = _referral(referee_id)
        open_rows = list(
            db.session.scalars(
                select(ReferralAccrual)
                .where(
                    ReferralAccrual.referrer_id == referrer_id,
                    ReferralAccrual.referee_id == referee_id,
                    ReferralAccrual.currency == currency,
                    ReferralAccrual.reward_id.is_(None),
                    ReferralAccrual.accrued_on < today,
                )
                .order_by(ReferralAccrual.id)
                .with_for_update()
                .execution_options(populate_existing=True)
            )
        )
        if not open_rows or referral is None or referral.referrer_id != referrer_id:
            uow.rollback()
            return False
        total = sum((a.amount for a in open_rows), ZERO).quantize(programme.quantum(currency), ROUND_DOWN)
        if total <= 0:
            uow.rollback()
            return False
        last_day = max(a.accrued_on for a in open_rows)
        key = f"commission:{referee_id}:{currency}:{last_day.isoformat()}:{open_rows[0].id}"
        reward = create_reward(referral, "trading_commission", total, currency, key)
        if reward is None:
            uow.rollback()
            return False
        for accrual in open_rows:
            accrual.reward_id = reward.id
    return True


# -- payout ------------------------------------------------------------------------------------------


def due_reward_ids(now: datetime | None = None, limit: int = 1000) -> list[int]:
    now = now or utcnow()
    return list(
        db.session.scalars(
            select(ReferralReward.id)
            .where(ReferralReward.status == "pending", ReferralReward.clears_at <= now)
            .order_by(ReferralReward.id)
            .limit(limit)
        )
    )


def pay_due_rewards(now: datetime | None = None, limit: int = 1000) -> int:
    """Pay every pending reward whose clearing period is over, each in its own transaction; returns how many."""
    now = now or utcnow()
    ids = due_reward_ids(now, limit)
    db.session.rollback()
    return sum(1 for reward_id in ids if pay_reward(reward_id, now=now))


def _lock_pending(reward_id: int) -> ReferralReward | None:
    query = (
        select(ReferralReward)
        .where(ReferralReward.id == reward_id)
        .execution_options(populate_existing=True)
        .with_for_update(skip_locked=db.engine.dialect.name == "postgresql")
    )
    return db.session.scalar(query)


def _settle_debt(referrer_id: int, currency: str, available: Decimal) -> Decimal:
    """Use up to ``available`` to pay down the referrer's clawback debt in ``currency``; returns what was used."""
    used = ZERO
    debts = db.session.scalars(
        select(ReferralReward)
        .where(
            ReferralReward.referrer_id == referrer_id,
            ReferralReward.currency == currency,
            ReferralReward.clawback_outstanding > 0,
        )
        .order_by(ReferralReward.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    for debt in debts:
        take = min(debt.clawback_outstanding, available - used)
        if take <= 0:
            break
        debt.clawback_outstanding -= take
        used += take
    return used


def pay_reward(reward_id: int, *, now: datetime | None = None) -> bool:
    """Pay one reward if it is still pending and cleared: ledger entry, history line and status together.

    Returns False when there was nothing to do (paid by another run, not due, held, cancelled,
    or locked by a parallel run that is paying it now).
    """
    now = now or utcnow()
    with unit_of_work() as uow:
        reward = _lock_pending(reward_id)
        if reward is None or reward.status != "pending" or reward.clears_at > now or reward.amount <= 0:
            uow.rollback()
            return False
        offset = _settle_debt(reward.referrer_id, reward.currency, reward.amount)
        net = reward.amount - offset
        reward.transition_to("paid")
        reward.paid_at = now
        reward.offset_amount = offset
        referee = db.session.get(User, reward.referee_id)
        memo = f"Referral {TYPE_LABELS[reward.reward_type].lower()} from {referee.username} (reward {reward.id})"
        if net > 0:
            wallet = ledger.wallet_for(reward.referrer_id, reward.currency)
            bonus = ledger.platform_account(BONUS_ACCOUNT, reward.currency)
            entry = ledger.post(
                "referral_reward",
                [Leg(bonus, -net), Leg(wallet, net)],
                memo=memo,
                reference=f"referral_reward:{reward.id}",
            )
            txn = Transaction(
                user_id=reward.referrer_id,
                transaction_type="referral_bonus",
                currency=reward.currency,
                amount=net,
                status="completed",
                reference_id=f"REF-{reward.id}",
                notes=memo,
                direction=1,
                entry_id=entry.id,
                completed_at=now,
            )
            db.session.add(txn)
            db.session.flush()
            reward.entry_id, reward.transaction_id = entry.id, txn.id
            uow.after_commit(_push_wallet, reward.referrer_id, reward.currency)
        body = f"Kept {_money(offset, reward.currency)} against an earlier clawback." if offset else ""
        notify(
            reward.referrer_id,
            REWARD_PAID,
            f"Referral reward paid: {_money(net, reward.currency)}",
            body or memo,
            link=LINK,
            dedupe_key=f"referral_paid:{reward.id}",
        )
    return True


def _push_wallet(user_id: int, currency: str) -> None:
    realtime.wallet_updated(ledger.wallet_for(user_id, currency))


# -- cancelling and clawing back -----------------------------------------------------------------------


def take_back(reward_id: int, reason: str) -> ReferralReward:
    """Cancel reward ``reward_id`` if unpaid, claw it back if paid (one unit of work)."""
    with unit_of_work():
        reward = rows.lock(ReferralReward, reward_id)
        if reward is None:
            raise NotFound("No such reward.")
        _take_back(reward, reason)
    return reward


def _take_back(reward: ReferralReward, reason: str) -> None:
    """Cancel an unpaid reward or claw back a paid one (caller holds its row lock)."""
    now = utcnow()
    if reward.status in ("pending", "held"):
        reward.transition_to("cancelled")
        reward.reason, reward.closed_at = reason, now
        title = f"Referral reward cancelled: {_money(reward.amount, reward.currency)}"
    elif reward.status == "paid":
        _claw_back(reward, reason)
        title = f"Referral reward clawed back: {_money(reward.amount, reward.currency)}"
    else:
        return
    notify(reward.referrer_id, REWARD_LOST, title, reason, link=LINK, dedupe_key=f"referral_lost:{reward.id}")


def _claw_back(reward: ReferralReward, reason: str) -> None:
    """Take the paid amount back from what is available; the rest becomes a debt against future rewards."""
    wallet = ledger.wallet_for(reward.referrer_id, reward.currency)
    wallet = ledger.lock_wallets([wallet.id])[wallet.id]
    take = min(wallet.available_balance, reward.amount)
    if take > 0:
        bonus = ledger.platform_account(BONUS_ACCOUNT, reward.currency)
        memo = f"Clawback of referral reward {reward.id}: {reason}"
        entry = ledger.post(
            "referral_clawback",
            [Leg(wallet, -take), Leg(bonus, take)],
            memo=memo,
            reference=f"referral_reward:{reward.id}",
        )
        db.session.add(
            Transaction(
                user_id=reward.referrer_id,
                transaction_type="referral_bonus",
                currency=reward.currency,
                amount=take,
                status="completed",
                reference_id=f"REF-CB-{reward.id}-{secrets.token_hex(3).upper()}",
                notes=memo[:2000],
                direction=-1,
                entry_id=entry.id,
                completed_at=utcnow(),
            )
        )
        reward.clawback_entry_id = entry.id
        unit = current_unit()
        if unit is not None:
            unit.after_commit(_push_wallet, reward.referrer_id, reward.currency)
    reward.clawback_outstanding = reward.amount - take
    reward.transition_to("clawed_back")
    reward.reason, reward.closed_at = reason, utcnow()
    audit.record(
        None,
        "referrals.clawed_back",
        reward,
        after={"taken": str(take), "outstanding": str(reward.clawback_outstanding), "reason": reason},
        ip="",
    )


# -- staff review --------------------------------------------------------------------------------------


def _review(staff: User, reward_id: int, reason: str, approve: bool) -> ReferralReward:
    if not has_permission(staff, programme.MANAGE):
        raise PermissionDenied("You may not review referral rewards.")
    reason = " ".join((reason or "").split())
    if not reason:
        raise ValidationFailed("Give a reason.", {"reason": ["Give a reason: it is kept in the audit log."]})
    if len(reason) > 500:
        raise ValidationFailed("The reason is too long.", {"reason": ["At most 500 characters."]})
    with unit_of_work():
        reward = rows.lock(ReferralReward, reward_id)
        if reward is None:
            raise NotFound("No such reward.")
        if staff.id in (reward.referrer_id, reward.referee_id):
            raise PermissionDenied("You cannot review a reward you are part of.")
        if reward.status != "held":
            raise IllegalTransition(f"This reward is {reward.status}, not held.")
        before = {"status": reward.status, "reason": reward.reason}
        if approve:
            reward.transition_to("pending")
            reward.reason = f"Approved by staff: {reason}"
            referral = _referral(reward.referee_id)
            if referral is not None and referral.status == "held":
                referral.status, referral.reason = "active", f"Cleared by staff: {reason}"
        else:
            _take_back(reward, f"Cancelled after review: {reason}")
        reward.reviewed_by_id = staff.id
        audit.record(
            staff,
            "referrals.reward_approved" if approve else "referrals.reward_cancelled",
            reward,
            before=before,
            after={"status": reward.status, "reason": reason},
        )
    return reward


def approve_held(staff: User, reward_id: int, reason: str) -> ReferralReward:
    """Release a held reward: it is paid by the next payout run once cleared; the referral stops being held."""
    return _review(staff, reward_id, reason, approve=True)


def cancel_held(staff: User, reward_id: int, reason: str) -> ReferralReward:
    """Cancel a held reward with a reason (audited; the referrer is told)."""
    return _review(staff, reward_id, reason, approve=False)


def held_count() -> int:
    """Rewards waiting for staff review (the ``referrals`` queue counter)."""
    return db.session.scalar(select(func.count()).select_from(ReferralReward).where(ReferralReward.status == "held"))


# Every fee a referee's fill posts accrues commission, in the fill's transaction.
if accrue_commission not in execution.FEE_HOOKS:
    execution.FEE_HOOKS.append(accrue_commission)
if prime_commission_contexts not in execution.FEE_HOOK_PRIMERS:
    execution.FEE_HOOK_PRIMERS.append(prime_commission_contexts)
