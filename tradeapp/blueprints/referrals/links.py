"""Referral links in the browser: ``?ref=CODE`` on any page is remembered for the session.

A visitor who opens a friend's link, reads a few pages and then signs up still arrives on the
registration form with the code filled in. Registration also passes where the sign-up came from
(IP address and a device signature) to the programme's burst rule.
"""

import re

from flask import Flask, request, session

from tradeapp.services import audit
from tradeapp.services.referrals.abuse import device_hash

SESSION_KEY = "referral_code"
CODE_RE = re.compile(r"^[A-Za-z0-9]{4,10}$")


def remember_ref() -> None:
    """Keep a well-formed ``?ref=`` of a page request in the session (the latest link wins)."""
    code = (request.args.get("ref") or "").strip().upper()
    if request.method == "GET" and CODE_RE.match(code) and session.get(SESSION_KEY) != code:
        session[SESSION_KEY] = code


def signup_origin() -> dict:
    """``ip`` and ``device`` of the current request, for :func:`tradeapp.services.users.register_user`."""
    return {
        "ip": audit.client_ip(),
        "device": device_hash(request.headers.get("User-Agent", ""), request.headers.get("Accept-Language", "")),
    }


def init_app(app: Flask) -> None:
    app.before_request(remember_ref)
