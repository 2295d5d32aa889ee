"""Anti-abuse: each self-referral rule, bursts of sign-ups held for review, staff review audited."""

from decimal import Decimal

import pytest
from sqlalchemy import select

from tests.referrals.helpers import after_clearing, approve_kyc, card_deposit, rewards, setup_programme, sign_up
from tradeapp.errors import IllegalTransition, PermissionDenied, ValidationFailed
from tradeapp.extensions import db
from tradeapp.models import AuditLog, Referral
from tradeapp.services import ledger, referrals
from tradeapp.services.referrals import abuse

D = Decimal


@pytest.fixture()
def referrer(db, create_user):
    setup_programme()
    return create_user(email="alice.smith@gmail.com", username="alice", phone_number="+44 20 7946 0958")


def referral_of(user) -> Referral:
    db.session.expire_all()
    return db.session.scalar(select(Referral).where(Referral.referee_id == user.id))


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("alice.smith@gmail.com", "alicesmith+promo@googlemail.com"),
        ("bob@example.com", "Bob+2@Example.com"),
    ],
)
def test_canonical_email_sees_aliases_of_one_mailbox(a, b):
    assert abuse.canonical_email(a) == abuse.canonical_email(b)
    assert abuse.canonical_email("bob@example.com") != abuse.canonical_email("b.ob@example.com")


def test_self_referral_by_email_alias_is_disqualified_and_earns_nothing(referrer):
    twin = sign_up(referrer, email="alicesmith+2@gmail.com")
    referral = referral_of(twin)
    assert referral.status == "disqualified" and "e-mail" in referral.reason
    approve_kyc(twin)
    card_deposit(twin)
    assert rewards(referrer) == []
    assert referrals.qualified_count(referrer.id) == 0


def test_self_referral_by_phone_is_disqualified(referrer):
    twin = sign_up(referrer, phone="020 7946 0958")
    assert referral_of(twin).status == "disqualified"
    approve_kyc(twin)
    assert rewards(referrer) == []


def test_self_referral_by_identity_document_is_caught_at_kyc_approval(referrer):
    approve_kyc(referrer, "AB 123-456")
    twin = sign_up(referrer)
    card_deposit(twin)  # a first-deposit reward before anyone knew
    assert [r.status for r in rewards(referrer)] == ["pending"]
    approve_kyc(twin, "ab123456")  # the same document, spelt differently
    referral = referral_of(twin)
    assert referral.status == "disqualified" and "document" in referral.reason
    assert [(r.reward_type, r.status) for r in rewards(referrer)] == [("first_deposit", "cancelled")]


def test_self_referral_by_card_of_the_first_deposit(referrer):
    card_deposit(referrer)  # the referrer paid with this card
    twin = sign_up(referrer)
    approve_kyc(twin, "OTHER-1")
    referrals.pay_due_rewards(now=after_clearing())  # the sign-up reward was paid already
    assert ledger.wallet_for(referrer, "USD").balance == D("160.00")
    card_deposit(twin)  # the twin's first deposit, same card
    referral = referral_of(twin)
    assert referral.status == "disqualified" and "card" in referral.reason
    statuses = {r.reward_type: r.status for r in rewards(referrer)}
    assert statuses == {"signup": "clawed_back"}  # no first-deposit reward; the paid one taken back
    db.session.expire_all()
    assert ledger.wallet_for(referrer, "USD").balance == D("150.00")
    assert ledger.check().ok


def test_different_people_are_not_flagged(referrer):
    friend = sign_up(referrer, phone="+1 415 555 0100")
    approve_kyc(friend, "ZZ-999")
    card_deposit(friend)
    assert referral_of(friend).status == "active"
    assert sorted(r.reward_type for r in rewards(referrer)) == ["first_deposit", "signup"]


def test_burst_of_signups_from_one_ip_is_held_for_review(referrer):
    crowd = [sign_up(referrer, ip="203.0.113.7") for _ in range(3)]
    assert [referral_of(u).status for u in crowd] == ["held", "held", "held"]
    other = sign_up(referrer, ip="198.51.100.1")
    assert referral_of(other).status == "active"
    approve_kyc(crowd[0], "C-1")
    (held,) = rewards(referrer)
    assert held.status == "held"
    assert referrals.pay_due_rewards(now=after_clearing()) == 0  # held rewards are never paid by the job
    assert referrals.held_count() == 1


def test_burst_from_one_device_is_held_too(referrer):
    crowd = [sign_up(referrer, device="dev-abc") for _ in range(3)]
    assert {referral_of(u).status for u in crowd} == {"held"}


def test_staff_approve_releases_a_held_reward_and_is_audited(referrer, create_staff):
    crowd = [sign_up(referrer, ip="203.0.113.8") for _ in range(3)]
    approve_kyc(crowd[0], "C-2")
    (held,) = rewards(referrer)
    staff = create_staff("compliance")
    with pytest.raises(ValidationFailed):
        referrals.approve_held(staff, held.id, "  ")
    referrals.approve_held(staff, held.id, "Checked: three flatmates")
    reward = rewards(referrer)[0]
    assert reward.status == "pending" and reward.reviewed_by_id == staff.id
    assert referral_of(crowd[0]).status == "active"
    assert referrals.pay_due_rewards(now=after_clearing()) == 1
    log = db.session.scalar(select(AuditLog).where(AuditLog.action == "referrals.reward_approved"))
    assert log.actor_id == staff.id and log.after["reason"] == "Checked: three flatmates"
    with pytest.raises(IllegalTransition):
        referrals.approve_held(staff, held.id, "again")


def test_staff_cancel_a_held_reward_with_reason(referrer, create_staff):
    crowd = [sign_up(referrer, ip="203.0.113.9") for _ in range(3)]
    approve_kyc(crowd[1], "C-3")
    (held,) = rewards(referrer)
    referrals.cancel_held(create_staff("finance"), held.id, "Same household farming bonuses")
    reward = rewards(referrer)[0]
    assert reward.status == "cancelled" and "farming" in reward.reason
    assert db.session.scalar(select(AuditLog).where(AuditLog.action == "referrals.reward_cancelled")) is not None


def test_review_needs_the_permission(referrer, create_staff):
    crowd = [sign_up(referrer, ip="203.0.113.10") for _ in range(3)]
    approve_kyc(crowd[2], "C-4")
    (held,) = rewards(referrer)
    with pytest.raises(PermissionDenied):
        referrals.approve_held(create_staff("support"), held.id, "ok")
    with pytest.raises(PermissionDenied):
        referrals.approve_held(referrer, held.id, "ok")
