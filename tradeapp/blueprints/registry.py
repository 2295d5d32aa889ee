"""Every domain, registered in one place: each package's ``init_app`` registers itself.

A domain's ``init_app(app)`` registers its blueprints (pages, staff, API), its staff sidebar
links and queue counters (:mod:`tradeapp.domains`) and its CLI. Adding a domain is a package
with an ``init_app`` and one entry in :data:`DOMAINS`.
"""

from flask import Flask

from tradeapp.blueprints import (
    api,
    backoffice,
    deposits,
    funds,
    kyc,
    ledger,
    main,
    staff,
    trading,
    users,
    webhooks,
    withdrawals,
)

#: registration order: blueprints, API tags and sidebar links appear in this order
DOMAINS = (main, users, staff, api, funds, deposits, withdrawals, ledger, kyc, trading, webhooks, backoffice)


def register_all(app: Flask) -> None:
    for domain in DOMAINS:
        domain.init_app(app)
