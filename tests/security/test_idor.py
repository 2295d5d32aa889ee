"""Every route of the app with an object id, walked as someone the object does not belong to.

The routes come from ``app.url_map``, so a new route is covered the day it is added (a new kind of
path parameter fails :func:`test_every_id_parameter_has_an_object` until it gets one here).
- Customer routes, as a second customer and as each staff role: 404 or 403, and nothing changes.
- Staff routes, as a customer and as each role without the route's permission: 403.
"""

import re
from decimal import Decimal

import pytest
from flask import Flask
from werkzeug.routing import IntegerConverter, Rule

from tests.conftest import ApiClient, csrf_token, web_login
from tests.kyc_helpers import storages, valid_data, valid_files
from tests.referrals.helpers import approve_kyc, setup_programme, sign_up
from tests.signals.seed_calls import idor_objects as signal_objects
from tests.trading_helpers import fund
from tradeapp.extensions import db
from tradeapp.models import (
    CopiedTrade,
    CopySubscription,
    Deposit,
    KYCDocument,
    Loan,
    Notification,
    Order,
    Position,
    ReferralReward,
    ReferralTier,
    SignalSubscription,
    Trader,
    TradingBot,
    User,
    UserSession,
    Withdrawal,
    WithdrawalAddress,
)
from tradeapp.models.users import STAFF_ROLES
from tradeapp.permissions import has_permission
from tradeapp.services import deposits, kyc, loans, notifications, withdrawals
from tradeapp.services.account_security import addresses, sessions
from tradeapp.services.copy_trading import subscriptions as copy_subscriptions
from tradeapp.services.tokens import issue_tokens
from tradeapp.services.trading import orders

#: customer routes staff may open with a permission (the owner's KYC files, for reviewers)
STAFF_MAY_SEE = {"kyc.file": "kyc.review", "kyc_api.kyc_detail": "kyc.review"}
#: string parameters: any well-formed value
STRINGS = {"symbol": "BTC-USD", "currency": "USD", "token": "not-a-token", "provider": "onfido", "name": "rsi"}
#: routes whose objects belong to nobody (the public trading pairs)
SKIP_ENDPOINTS = {
    "static",
    "trading_api.trading_pair_detail",
    "trading_api.trading_pair_market_data",
    # a lead trader's public profile and curve (display name, bio and stats only)
    "copy_api.trader_detail",
    "copy_api.trader_performance",
    "copy_trading.trader_page",
    "copy_trading.trader_curve",
    "copy_trading.follow_preview",
    "copy_trading.trader_follow",
}
SKIP_ENDPOINTS |= {"signals_api.signal_provider_detail", "signals_api.signal_plan_detail", "signals.provider_detail"}
#: the same parameter name in two domains names two kinds of object: the blueprint picks the key
#: ``<scope>:<name>`` in owner_objects (e.g. a copy-trading ``subscription_id`` is not a signal plan's)
SCOPES = {"copy_api": "copy", "copy_trading": "copy", "staff_copy": "copy"}
SKIP_ENDPOINTS |= {"loan_products_api.loan_product_detail", "signals.subscribe_confirm"}
#: a valid body where the schema is checked before the object is loaded (so the probe reaches the load)
API_BODIES = {
    "/api/v1/positions/<int:position_id>/": {"stop_loss": "30000.00"},
    "/api/v1/signals/<int:signal_id>/execute/": {"quantity": "0.01"},
    "/api/v1/signal-subscriptions/<int:subscription_id>/": {"auto_renew": False},
    "/api/v1/loans/<int:loan_id>/repay/": {"amount": "1.00"},
    "/api/v1/loans/<int:loan_id>/add-collateral/": {"amount": "0.01"},
}


def required_permission(app: Flask, rule: Rule, method: str) -> str | None:
    """The permission a route's decorator demands (``staff_required`` / ``token_required``), if any."""
    view = app.view_functions[rule.endpoint]
    view_class = getattr(view, "view_class", None)
    if view_class is not None:
        view = getattr(view_class, method.lower(), view)
    while view is not None:
        permission = getattr(view, "required_permission", None)
        if permission:
            return permission
        view = getattr(view, "__wrapped__", None)
    return None


def _int_params(rule: Rule) -> list[str]:
    return [name for name, conv in rule._converters.items() if isinstance(conv, IntegerConverter)]


def _object_routes(app: Flask):
    for rule in app.url_map.iter_rules():
        if rule.endpoint in SKIP_ENDPOINTS or not _int_params(rule):
            continue
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            yield rule, method


def _staff_routes(app: Flask):
    for rule in app.url_map.iter_rules():
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            if required_permission(app, rule, method):
                yield rule, method


@pytest.fixture()
def owner_objects(app, db, create_user, market, pairs):
    """Customer A and one of each object a route can name, by path-parameter name."""
    market.set("BTC/USD", "50000.00", "50010.00", levels=5, size="1", step="10")
    owner = create_user(email="owner@example.com", username="owner", kyc_status="approved", is_verified=True)
    fund(owner, "USD", "100000")
    deposit = deposits.create_card_deposit(owner, "USD", "50.00").deposit
    withdrawal = withdrawals.request_withdrawal(
        owner, "USD", "20", "bank_account", {"iban": "GB82WEST12345698765432", "account_holder": "Owner"}
    )
    orders.place_order(owner, {"symbol": "BTC/USD", "order_type": "market", "side": "buy", "quantity": "0.01"})
    resting = orders.place_order(
        owner, {"symbol": "BTC/USD", "order_type": "limit", "side": "buy", "quantity": "0.01", "price": "40000"}
    )
    position = db.session.scalar(db.select(Position).where(Position.user_id == owner.id))
    loan, product, repayment = _owner_loan(owner, create_user)  # before the KYC resubmission makes it pending
    document = kyc.submit_kyc(owner, valid_data(), storages(valid_files()))
    note = notifications.notify(owner.id, notifications.DEPOSIT_CREDITED, "Deposit credited", link="/wallets/")
    lead = create_user(email="lead@example.com", username="leadtrader", kyc_status="approved", is_verified=True)
    fund(lead, "USD", "100000")
    trader = Trader(user_id=lead.id, display_name="Lead", status="approved")
    db.session.add(trader)
    db.session.commit()
    subscription = copy_subscriptions.subscribe(owner, {"trader": trader.id, "copy_percentage": "10"})
    orders.place_order(lead, {"symbol": "BTC/USD", "order_type": "market", "side": "buy", "quantity": "0.1"})
    copied = db.session.scalar(db.select(CopiedTrade).where(CopiedTrade.subscription_id == subscription.id))
    bot, bot_trade = _bot_with_trade(owner, pairs["BTC/USD"])
    setup_programme()
    approve_kyc(sign_up(owner), "IDOR-1")  # the owner earns a referral reward
    session_row = sessions.start(owner, "web", "owner-session-sid", "Mozilla/5.0 (X11; Linux) Firefox/120", "10.0.0.1")
    address = addresses.add(
        owner,
        {
            "label": "Main bank",
            "currency": "USD",
            "destination_type": "bank_account",
            "destination_details": {"iban": "GB82WEST12345698765432", "account_holder": "Owner"},
        },
    )
    objects = {
        "bot_id": bot.id,
        "trade_id": bot_trade.id,
        "deposit_id": deposit.id,
        "withdrawal_id": withdrawal.id,
        "transaction_id": withdrawal.transaction_id,
        "order_id": resting.id,
        "position_id": position.id,
        "document_id": document.id,
        "file_id": document.files[0].id,
        "user_id": owner.id,
        "pair_id": pairs["BTC/USD"].id,
        "notification_id": note.id,
        "trader_id": trader.id,
        "copy:subscription_id": subscription.id,
        "copied_trade_id": copied.id,
        "loan_id": loan.id,
        "product_id": product.id,
        "repayment_id": repayment.id,
        "reward_id": db.session.scalar(db.select(ReferralReward.id)),
        "tier_id": db.session.scalar(db.select(ReferralTier.id)),
        "session_id": session_row.id,
        "address_id": address.id,
    }
    objects.update(signal_objects(owner, pairs))
    return owner, objects


def _bot_with_trade(owner, pair):
    """A running paper bot of ``owner`` with one (paper) fill."""
    from tradeapp.models import BotTrade
    from tradeapp.services.bots import bots as bot_service

    bot = bot_service.create_bot(
        owner, {"name": "Owner's bot", "strategy": "rsi", "trading_pairs": [pair.id], "max_position_size": "1000"}
    )
    bot_service.start_bot(owner, bot.id)
    trade = BotTrade(bot_id=bot.id, pair_id=pair.id, side="buy", quantity=Decimal("0.01"), price=Decimal("50000"))
    db.session.add(trade)
    db.session.commit()
    return bot, trade


def _owner_loan(owner, create_user):
    """An active loan of the owner's (approved by a loan officer), with one repayment."""
    from tests.loans.conftest import PRODUCT

    fund(owner, "BTC", "1")
    admin = create_user(email="loans-admin@example.com", username="loansadmin", role="admin")
    officer = create_user(email="loans-officer@example.com", username="loansofficer", role="loans")
    product = loans.save_product(admin, PRODUCT)
    loan = loans.apply(
        owner, {"product": product.id, "amount": "1000", "collateral_amount": "0.1", "collateral_currency": "BTC"}
    )
    loans.approve(officer, loan.id)
    repayment = loans.repay(owner, loan.id, "10").repayment
    return loan, product, repayment


def _snapshot(owner_id: int) -> dict:
    """What another user or an unauthorised role must never change."""
    db.session.expire_all()
    owner = db.session.get(User, owner_id)
    snap = {
        "user": (owner.is_active, owner.role, owner.kyc_status, owner.password_hash),
        "deposits": sorted((d.id, d.status) for d in db.session.scalars(db.select(Deposit))),
        "withdrawals": sorted((w.id, w.status) for w in db.session.scalars(db.select(Withdrawal))),
        "orders": sorted((o.id, o.status) for o in db.session.scalars(db.select(Order))),
        "positions": sorted(
            (p.id, p.quantity, p.stop_loss, p.take_profit) for p in db.session.scalars(db.select(Position))
        ),
        "kyc": sorted((d.id, d.status) for d in db.session.scalars(db.select(KYCDocument))),
        "notifications": sorted((n.id, n.read_at) for n in db.session.scalars(db.select(Notification))),
        "signal_subscriptions": sorted(
            (s.id, s.status, s.auto_renew) for s in db.session.scalars(db.select(SignalSubscription))
        ),
        "copy": sorted(
            (s.id, s.status, s.copy_percentage, s.max_position_size)
            for s in db.session.scalars(db.select(CopySubscription))
        ),
        "traders": sorted((t.id, t.status) for t in db.session.scalars(db.select(Trader))),
        "bots": sorted((b.id, b.name, b.is_active, b.strategy) for b in db.session.scalars(db.select(TradingBot))),
        "loans": sorted(
            (x.id, x.status, x.collateral_amount, x.principal_outstanding) for x in db.session.scalars(db.select(Loan))
        ),
        "sessions": sorted(
            (s.id, s.revoked_at)
            for s in db.session.scalars(db.select(UserSession).where(UserSession.user_id == owner_id))
        ),
        "addresses": sorted((a.id, a.revoked_at) for a in db.session.scalars(db.select(WithdrawalAddress))),
    }
    db.session.rollback()
    return snap


def _url(rule: Rule, objects: dict) -> str:
    scope = SCOPES.get(rule.endpoint.split(".", 1)[0])

    def fill(match):
        name = match.group(1)
        if scope and f"{scope}:{name}" in objects:
            return str(objects[f"{scope}:{name}"])
        return str(objects[name]) if name in objects else STRINGS[name]

    return re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", fill, rule.rule)


class Actor:
    """One identity with both faces: a web session (with its CSRF token) and an API token."""

    def __init__(self, app, user, web_client, csrf_page):
        self.user = user
        self.web = web_client
        self.csrf = csrf_token(web_client, csrf_page)
        self.api = ApiClient(app.test_client(), issue_tokens(user)["access"])

    def request(self, method: str, url: str, rule: Rule):
        if url.startswith("/api/"):
            body = None if method in ("GET", "DELETE") else API_BODIES.get(rule.rule, {})
            return self.api.client.open(
                url, method=method, json=body, headers={"Authorization": f"Bearer {self.api.token}"}
            )
        data = None if method == "GET" else {"csrf_token": self.csrf, "reason": "probe", "role": "admin"}
        return self.web.open(url, method=method, data=data, headers={"X-CSRFToken": self.csrf})


def _customer(app, create_user) -> Actor:
    other = create_user(email="other@example.com", username="other", kyc_status="approved", is_verified=True)
    client = app.test_client()
    web_login(client, other.email)
    return Actor(app, other, client, "/dashboard")


def _staff(app, staff_client_factory, role) -> Actor:
    client, staff = staff_client_factory(role)
    return Actor(app, staff, client, "/staff/")


def test_every_id_parameter_has_an_object(app):
    names = {name for rule, _ in _object_routes(app) for name in _int_params(rule)}
    fixture_names = {
        "deposit_id",
        "withdrawal_id",
        "transaction_id",
        "order_id",
        "position_id",
        "document_id",
        "file_id",
        "user_id",
        "pair_id",
        "notification_id",
        *("provider_id", "plan_id", "subscription_id", "signal_id", "signal_notification_id"),
        "trader_id",
        "copied_trade_id",
        "bot_id",
        "trade_id",
        "loan_id",
        "product_id",
        "repayment_id",
        "reward_id",
        "tier_id",
        "session_id",
        "address_id",
    }
    assert names <= fixture_names, f"add an object for {sorted(names - fixture_names)} to owner_objects"
    assert len(list(_object_routes(app))) >= 40


@pytest.mark.parametrize("actor_kind", ["customer", *STAFF_ROLES])
def test_objects_of_another_customer_are_out_of_reach(
    app, owner_objects, create_user, staff_client_factory, actor_kind
):
    owner, objects = owner_objects
    before = _snapshot(owner.id)
    actor = _customer(app, create_user) if actor_kind == "customer" else _staff(app, staff_client_factory, actor_kind)
    checked, leaks = 0, []
    for rule, method in _object_routes(app):
        permission = required_permission(app, rule, method)
        if permission is not None:
            continue  # a staff action: the next test checks who may take it
        allowed_by = STAFF_MAY_SEE.get(rule.endpoint)
        if allowed_by and actor.user.is_staff and has_permission(actor.user, allowed_by):
            continue
        response = actor.request(method, _url(rule, objects), rule)
        checked += 1
        if response.status_code not in (403, 404):
            leaks.append((method, rule.rule, response.status_code))
    assert not leaks, f"{actor_kind} reached another customer's objects: {leaks}"
    assert checked >= 15
    assert _snapshot(owner.id) == before


@pytest.mark.parametrize("actor_kind", ["customer", *STAFF_ROLES])
def test_staff_actions_need_their_permission(app, owner_objects, create_user, staff_client_factory, actor_kind):
    owner, objects = owner_objects
    before = _snapshot(owner.id)
    actor = _customer(app, create_user) if actor_kind == "customer" else _staff(app, staff_client_factory, actor_kind)
    checked, leaks = 0, []
    for rule, method in _staff_routes(app):
        permission = required_permission(app, rule, method)
        if actor.user.is_staff and has_permission(actor.user, permission):
            continue
        response = actor.request(method, _url(rule, objects), rule)
        checked += 1
        if response.status_code != 403:
            leaks.append((method, rule.rule, permission, response.status_code))
    assert not leaks, f"{actor_kind} took staff actions without the permission: {leaks}"
    assert checked > 0 or actor_kind == "admin"
    assert _snapshot(owner.id) == before


def test_the_sweep_sees_the_owner_objects_as_the_owner(app, owner_objects):
    """Control: the same URLs answer the owner, so a 404 above means "not yours", not "wrong URL"."""
    owner, objects = owner_objects
    client = app.test_client()
    web_login(client, owner.email)
    api = ApiClient(app.test_client(), issue_tokens(owner)["access"])
    assert client.get(f"/deposits/{objects['deposit_id']}").status_code == 200
    hx = {"HX-Request": "true"}
    assert client.get(f"/withdrawals/{objects['withdrawal_id']}/row", headers=hx).status_code == 200
    assert client.get(f"/trade/orders/{objects['order_id']}/row", headers=hx).status_code == 200
    assert client.get(f"/trade/positions/{objects['position_id']}/row", headers=hx).status_code == 200
    assert client.get(f"/kyc/files/{objects['file_id']}").status_code == 200
    assert api.get(f"/api/v1/orders/{objects['order_id']}/").status_code == 200
    assert api.get(f"/api/v1/positions/{objects['position_id']}/").status_code == 200
    assert api.get(f"/api/v1/notifications/{objects['notification_id']}/").status_code == 200
    assert client.get(f"/notifications/{objects['notification_id']}/open").status_code == 303
    assert api.get(f"/api/v1/copy-trading/{objects['copy:subscription_id']}/").status_code == 200
    assert api.get(f"/api/v1/copied-trades/{objects['copied_trade_id']}/").status_code == 200
    assert api.get(f"/api/v1/withdrawal-addresses/{objects['address_id']}/").status_code == 200
    assert client.get(f"/staff/users/{owner.id}/security").status_code in (302, 403)  # staff only
    assert api.get(f"/api/v1/deposits/{objects['deposit_id']}/").status_code == 200
    assert client.get(f"/loans/{objects['loan_id']}").status_code == 200
    assert api.get(f"/api/v1/loans/{objects['loan_id']}/").status_code == 200
    assert api.get(f"/api/v1/loan-repayments/{objects['repayment_id']}/").status_code == 200
    assert Decimal(api.get("/api/v1/wallets/USD/").get_json()["balance"]) > 0
