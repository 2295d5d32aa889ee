"""Every domain, registered in one place: each package's ``init_app`` registers itself.

A domain's ``init_app(app)`` registers its blueprints (pages, staff, API), its staff sidebar
links and queue counters (:mod:`tradeapp.domains`) and its CLI. Adding a domain is a package
with an ``init_app`` and one entry in :data:`DOMAINS`.
"""

from flask import Flask

from tradeapp.blueprints import (
    account_security,
    api,
    backoffice,
    bots,
    copy_trading,
    deposits,
    funds,
    kyc,
    ledger,
    loans,
    main,
    notifications,
    referrals,
    signals,
    staff,
    trading,
    users,
    webhooks,
    withdrawals,
)

#: registration order: blueprints, API tags and sidebar links appear in this order
DOMAINS = (
    main,
    users,
    staff,
    api,
    funds,
    deposits,
    withdrawals,
    ledger,
    kyc,
    trading,
    account_security,
    bots,
    copy_trading,
    backoffice,
    loans,
    notifications,
    referrals,
    signals,
    webhooks,
)


def register_all(app: Flask) -> None:
    for domain in DOMAINS:
        domain.init_app(app)
