"""Helpers for the referral tests: a programme with tiers, referees signed up by code, KYC and deposits."""

from datetime import timedelta
from decimal import Decimal

from sqlalchemy import select

from tests.conftest import PASSWORD
from tradeapp.extensions import db
from tradeapp.models import KYCDocument, ReferralReward, ReferralTier
from tradeapp.models.types import utcnow
from tradeapp.services import deposits, kyc_review, referrals, users
from tradeapp.services.kyc import _fernet

D = Decimal


def setup_programme(*, clearing_days=14, cap="1000", tiers=(("Bronze", 0, "10", "0"), ("Silver", 2, "20", "5"))):
    conf = referrals.settings()
    conf.signup_bonus, conf.first_deposit_bonus, conf.first_deposit_minimum = D("10"), D("20"), D("100")
    conf.clearing_days, conf.monthly_cap, conf.currency = clearing_days, D(cap), "USD"
    conf.burst_signups, conf.burst_hours = 3, 24
    for name, minimum, pct, bonus in tiers:
        db.session.add(
            ReferralTier(name=name, min_referrals=minimum, commission_percentage=D(pct), bonus_amount=D(bonus))
        )
    db.session.commit()
    return conf


_n = {"i": 0}


def sign_up(referrer, *, email=None, phone="", ip="", device=""):
    _n["i"] += 1
    i = _n["i"]
    return users.register_user(
        email=email or f"friend{i}@example.org",
        username=f"friend{i}",
        password=PASSWORD,
        password_confirm=PASSWORD,
        phone_number=phone,
        referral_code=referrer.referral_code,
        ip=ip or f"10.0.{i // 250}.{i % 250}",
        device=device,
    )


def approve_kyc(user, number="P-100200"):
    doc = KYCDocument(
        user_id=user.id,
        status="pending",
        document_type="passport",
        document_number_encrypted=_fernet().encrypt(number.encode()).decode(),
        document_number_last4=number[-4:],
        date_of_birth=utcnow().date().replace(year=1990),
        address="1 Test Street",
        city="Paris",
        country="FR",
        postal_code="75001",
    )
    db.session.add(doc)
    db.session.commit()
    return kyc_review.approve_kyc(None, doc)


def card_deposit(user, amount="150.00", card="4242 4242 4242 4242"):
    created = deposits.create_card_deposit(user, "USD", amount, provider_name="sandbox")
    deposit, ok, message = deposits.pay_sandbox_card(user, created.deposit, card)
    assert ok, message
    return deposit


def rewards(referrer=None, reward_type=None):
    query = select(ReferralReward).order_by(ReferralReward.id)
    if referrer is not None:
        query = query.where(ReferralReward.referrer_id == referrer.id)
    if reward_type is not None:
        query = query.where(ReferralReward.reward_type == reward_type)
    db.session.expire_all()
    return list(db.session.scalars(query))


def after_clearing(days=15):
    return utcnow() + timedelta(days=days)
