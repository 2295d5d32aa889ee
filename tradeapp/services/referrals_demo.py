"""Demo data: three tiers and a few friends of the demo customer, with rewards in every state."""

from datetime import timedelta
from decimal import Decimal

from sqlalchemy import func, select

from tradeapp.extensions import db
from tradeapp.models import Referral, ReferralTier, User
from tradeapp.models.types import utcnow
from tradeapp.services import passwords
from tradeapp.services.referrals import programme, rewards
from tradeapp.services.users import _new_referral_code

D = Decimal
TIERS = (("Bronze", 0, "10", "0"), ("Silver", 3, "20", "5"), ("Gold", 10, "30", "10"))
#: username, verified, days ago, referral status
FRIENDS = (
    ("mia.r", True, 40, "active"),
    ("leo.k", True, 35, "active"),
    ("ivy.n", True, 6, "active"),
    ("zoe.p", True, 2, "held"),
    ("sam.t", False, 1, "active"),
)


def _friend(referrer: User, username: str, verified: bool, days_ago: int, status: str) -> Referral:
    joined = utcnow() - timedelta(days=days_ago)
    user = User(
        email=f"{username.replace('.', '')}@friends.tradeapp.local",
        username=username,
        password_hash=passwords.hash_password("Demo-friend-2026!"),
        referral_code=_new_referral_code(),
        email_verified_at=joined,
        password_changed_at=joined,
        referred_by_id=referrer.id,
        is_verified=verified,
        kyc_status="approved" if verified else "not_submitted",
        created_at=joined,
    )
    db.session.add(user)
    db.session.flush()
    referral = Referral(
        referrer_id=referrer.id,
        referee_id=user.id,
        signup_ip="",
        status=status,
        reason="3 referred sign-ups from one IP address or device in a short time." if status == "held" else "",
        qualified_at=joined + timedelta(days=1) if verified else None,
        created_at=joined,
    )
    db.session.add(referral)
    db.session.flush()
    return referral


def seed_demo_referrals() -> list[str]:
    """Only on a database without tiers: the programme is set up once and then left to staff."""
    if db.session.scalar(select(func.count()).select_from(ReferralTier)):
        return []
    demo = db.session.scalar(select(User).where(User.username == "demo"))
    if demo is None:
        return []
    conf = programme.settings()
    for name, minimum, pct, bonus in TIERS:
        db.session.add(
            ReferralTier(name=name, min_referrals=minimum, commission_percentage=D(pct), bonus_amount=D(bonus))
        )
    friends = {name: _friend(demo, name, verified, days, status) for name, verified, days, status in FRIENDS}
    db.session.commit()

    now = utcnow()
    long_ago = now - timedelta(days=conf.clearing_days + 10)
    mia, leo, ivy, zoe = friends["mia.r"], friends["leo.k"], friends["ivy.n"], friends["zoe.p"]
    # paid: sign-up bonuses and a day of trading commission, earned more than a clearing period ago
    paid = [
        rewards.create_reward(
            mia, "signup", conf.signup_bonus, conf.currency, f"signup:{mia.referee_id}", now=long_ago
        ),
        rewards.create_reward(
            leo, "signup", conf.signup_bonus, conf.currency, f"signup:{leo.referee_id}", now=long_ago
        ),
        rewards.create_reward(
            mia, "trading_commission", D("4.37"), "USD", f"commission:{mia.referee_id}:USD:demo", now=long_ago
        ),
        rewards.create_reward(
            leo,
            "first_deposit",
            conf.first_deposit_bonus,
            conf.currency,
            f"first_deposit:{leo.referee_id}",
            now=long_ago,
        ),
    ]
    db.session.commit()
    for reward in paid:
        rewards.pay_reward(reward.id, now=now)
    # clawed back: Leo's first deposit was charged back after the bonus was paid
    rewards.take_back(paid[3].id, "The referee's deposit was charged back (demo).")
    # pending: Ivy verified last week; held: Zoe signed up in a burst; cancelled: Mia's first deposit refunded
    rewards.create_reward(ivy, "signup", conf.signup_bonus, conf.currency, f"signup:{ivy.referee_id}")
    rewards.create_reward(zoe, "signup", conf.signup_bonus, conf.currency, f"signup:{zoe.referee_id}")
    refunded = rewards.create_reward(
        mia, "first_deposit", conf.first_deposit_bonus, conf.currency, f"first_deposit:{mia.referee_id}"
    )
    db.session.commit()
    rewards.take_back(refunded.id, "The referee's deposit was refunded within the clearing period (demo).")
    db.session.commit()
    return [f"referral tiers {', '.join(t[0] for t in TIERS)}", f"{len(FRIENDS)} referred friends of demo with rewards"]
