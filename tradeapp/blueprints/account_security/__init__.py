"""Account security (issue 20): customer two-factor, settings, sessions, the address book, e-mailed
withdrawal confirmation; their pages, API, the staff card, and the anti-phishing line in every e-mail."""

from flask import Flask

from tradeapp.blueprints.api import register_api
from tradeapp.mail import PREAMBLES
from tradeapp.services.account_security import confirmations, settings

from . import api, staff, views


def _anti_phishing(to: str) -> str:
    phrase = settings.phrase_for_email(to)
    return f"Your anti-phishing phrase: {phrase}" if phrase else ""


def init_app(app: Flask) -> None:
    app.register_blueprint(views.bp)
    app.register_blueprint(staff.bp)
    register_api(api.security_blp, api.sessions_blp, api.addresses_blp)
    app.before_request(views.check_session)
    app.extensions.setdefault(PREAMBLES, []).append(_anti_phishing)
    app.jinja_env.globals["withdrawal_awaits_confirmation"] = lambda w: confirmations.pending_for(w) is not None
