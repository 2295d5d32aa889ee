"""Referrals: the customer's referral page, the staff console of the programme, the referrals API."""

from flask import Flask

from tradeapp import domains
from tradeapp.blueprints.api import register_api
from tradeapp.models import ReferralReward
from tradeapp.services import referrals
from tradeapp.services.referrals.programme import MANAGE

from . import api, cli, links, staff, views


def init_app(app: Flask) -> None:
    app.register_blueprint(views.bp)
    app.register_blueprint(staff.bp)
    register_api(api.blp)
    links.init_app(app)
    domains.add_cli(app, cli.referrals_cli)
    domains.add_queue(
        app,
        "Referrals",
        "Referral programme",
        "staff_referrals.referrals_overview",
        MANAGE,
        counter="referrals",
        count=referrals.held_count,
        model=ReferralReward,
        prefix="staff_referrals.",
    )
