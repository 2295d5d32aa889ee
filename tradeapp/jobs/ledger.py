"""Nightly reconciliation: recompute the ledger and alert staff on any drift."""

import logging

from sqlalchemy import select

from tradeapp.jobs import job

log = logging.getLogger(__name__)


@job
def reconcile_ledger() -> dict:
    """Run the ledger check; on drift, audit it, tell staff consoles and e-mail admins."""
    from tradeapp import realtime
    from tradeapp.extensions import db
    from tradeapp.mail import send_mail
    from tradeapp.models import User
    from tradeapp.services import audit
    from tradeapp.services.ledger import check

    report = check()
    summary = {
        "ok": report.ok,
        "entries": report.entries,
        "postings": report.postings,
        "wallets": report.wallets,
        "problems": report.problems()[:50],
    }
    if report.ok:
        log.info("ledger reconciled: %s entries, %s wallets, no drift", report.entries, report.wallets)
        return summary
    log.error("ledger drift: %d problems", len(report.problems()))
    audit.record(None, "ledger.drift_detected", after={"problems": summary["problems"]}, ip="")
    db.session.commit()
    realtime.emit_to_staff("ledger_alert", {"problems": len(report.problems()), "first": summary["problems"][:5]})
    for admin in db.session.scalars(select(User).where(User.role.in_(("admin", "finance")), User.is_active_flag)):
        send_mail(admin.email, "Ledger reconciliation found drift", "ledger_alert", problems=summary["problems"])
    return summary
