"""Nightly reconciliation: recompute the ledger and alert staff on any drift."""

import logging

from tradeapp.jobs import job
from tradeapp.services.ledger import reconcile

log = logging.getLogger(__name__)


@job
def reconcile_ledger() -> dict:
    """Run the ledger check; on drift the service audits it, tells staff consoles and e-mails admins."""
    report = reconcile()
    summary = {
        "ok": report.ok,
        "entries": report.entries,
        "postings": report.postings,
        "wallets": report.wallets,
        "problems": report.problems()[:50],
    }
    if report.ok:
        log.info("ledger reconciled: %s entries, %s wallets, no drift", report.entries, report.wallets)
    else:
        log.error("ledger drift: %d problems", len(report.problems()))
    return summary
