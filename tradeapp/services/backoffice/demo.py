"""Demo data for the back office: a staff note on the demo customer and yesterday's stored report."""

from datetime import timedelta

from sqlalchemy import select

from tradeapp.extensions import db
from tradeapp.models import StaffNote, User
from tradeapp.models.types import utcnow
from tradeapp.services.backoffice import reports


def seed_backoffice_demo() -> list[str]:
    """A note the admin left on the demo customer, and yesterday's report as the nightly job keeps it."""
    created = []
    # the seed's first customer and first administrator (the demo pair)
    customer = db.session.scalar(select(User).where(User.role.is_(None)).order_by(User.id).limit(1))
    admin = db.session.scalar(select(User).where(User.role == "admin").order_by(User.id).limit(1))
    if customer and admin and not db.session.scalar(select(StaffNote.id).where(StaffNote.user_id == customer.id)):
        db.session.add(
            StaffNote(user_id=customer.id, author_id=admin.id, body="Demo account: welcome call done, KYC not started.")
        )
        created.append("staff note on the demo customer")
    db.session.commit()  # the report is stored in its own unit of work
    yesterday = utcnow().date() - timedelta(days=1)
    if reports.stored_day(yesterday) is None:
        reports.store_day(yesterday)
        created.append(f"daily report of {yesterday} stored")
    return created
