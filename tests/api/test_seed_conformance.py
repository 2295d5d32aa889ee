"""A client written against the seed works unchanged: every row of ``seed_table.TABLE`` is called for real.

For each endpoint of the spec's sections 3, 7, 8 and 9 (see ``tests/api/seed_table.py``): a
seed-shaped request (DRF-style: JSON numbers for decimals, the whole object sent back, read-only
fields included) gets the seed's status; every field of the seed's serializer is there under its
seed name (nested ones too); every choice is one of the seed's (or of the deliberate difference the
row names); and the OpenAPI document describes the same fields and choices.
"""

import json
import re
import uuid
from decimal import Decimal
from urllib.parse import quote

import pytest

from tests.api.helpers import reset_token_from_mail
from tests.api.order_helpers import pin_prices
from tests.api.seed_table import DIFFERENCES, TABLE, Row, differences_of
from tests.conftest import PASSWORD, ApiClient
from tests.kyc_helpers import multipart, valid_data, valid_files
from tests.signals.seed_calls import signal_call
from tests.trading_helpers import fund
from tests.unit.test_kyc_review import add_submission
from tradeapp.mail import outbox_messages
from tradeapp.services import notifications
from tradeapp.services.account_security import sessions
from tradeapp.services.tokens import issue_tokens

API = "/api/v1"
BANK = {"iban": "GB82WEST12345698765432", "account_holder": "Alice Liddell"}


class World:
    """Alice (verified, funded, with an open order, a fill and a position), Bob, a compliance reviewer."""

    def __init__(self, app, db, user, create_user, create_staff, pairs, market):
        pin_prices(market)
        user.kyc_status, user.is_verified = "approved", True
        db.session.commit()
        fund(user, "USD", "5000")
        self.app, self.db, self.alice, self.pairs = app, db, user, pairs
        self.bob = create_user(email="bob@example.com", username="bob")
        self.api = self.client_for(user)
        self.reviewer = self.client_for(create_staff(role="compliance"))
        self.officer = create_staff(role="loans")
        self.lender = self.client_for(self.officer)
        self.anon = ApiClient(app.test_client())

    def client_for(self, user) -> ApiClient:
        return ApiClient(self.app.test_client(), issue_tokens(user)["access"])

    def ok(self, response, status=None):
        assert response.status_code == (status or response.status_code) < 400, response.get_data(as_text=True)[:500]
        return response.get_json()

    # objects, made on demand ------------------------------------------------------------------

    def order(self) -> dict:
        """An open limit buy, sent as a DRF client would: the pair by id, decimals as JSON numbers."""
        body = {"trading_pair": self.pairs["BTC/USD"].id, "order_type": "limit", "side": "buy"}
        body.update(quantity=Decimal("0.01"), price=Decimal("40000"))
        return self.ok(self.post_json("/orders/", body), 201)

    def position(self) -> dict:
        self.ok(
            self.api.post(
                f"{API}/orders/", json={"symbol": "BTC-USD", "order_type": "market", "side": "buy", "quantity": "0.01"}
            ),
            201,
        )
        return self.ok(self.api.get(f"{API}/positions/"))["results"][0]

    def deposit(self) -> dict:
        return self.ok(self.api.post(f"{API}/deposits/", json={"payment_method": "bank_transfer", "amount": "100"}))

    def withdrawal(self) -> dict:
        body = {"currency": "USD", "amount": "100.00", "destination_type": "bank_account", "destination_details": BANK}
        return self.ok(self.api.post(f"{API}/withdrawals/", json=body), 201)

    def transfer(self) -> dict:
        body = {"to_username": "bob", "currency": "USD", "amount": "10"}
        return self.ok(self.api.post(f"{API}/transfers/", json=body), 201)

    def notification(self):
        return notifications.notify(self.alice.id, notifications.DEPOSIT_CREDITED, "Deposit credited", "100 USD")

    def loan_product(self):
        from tests.loans.conftest import PRODUCT
        from tradeapp.services import loans

        if getattr(self, "_product", None) is None:
            self._product = loans.save_product(self.officer, PRODUCT)
            fund(self.alice, "BTC", "1")
        return self._product

    def loan(self, approve=False) -> dict:
        """A loan applied for as the seed's clients do: the product by id, decimals as JSON numbers."""
        body = {
            "product": self.loan_product().id,
            "amount": Decimal("1000.00"),
            "collateral_amount": Decimal("0.05"),
            "collateral_currency": "BTC",
        }
        loan = self.ok(self.post_json("/loans/", body), 201)
        if approve:
            self.ok(self.lender.post(f"{API}/loans/{loan['id']}/approve/"))
        return loan

    def referral(self):
        """Carol joined with Alice's code and verified her identity: Alice has a pending sign-up reward."""
        from tests.referrals.helpers import approve_kyc, setup_programme, sign_up

        setup_programme()
        approve_kyc(sign_up(self.alice))

    def session(self):
        return sessions.start(self.alice, "web", f"web-{uuid.uuid4().hex}", "Firefox/120 Linux", "10.0.0.7")

    def address(self) -> dict:
        body = {"label": "Main", "currency": "USD", "destination_type": "bank_account", "destination_details": BANK}
        return self.ok(self.api.post(f"{API}/withdrawal-addresses/", json=body), 201)

    def submission(self, status="pending"):
        return add_submission(self.db, self.bob, status=status)

    def bot(self, **extra) -> dict:
        """A paper moving-average bot, sent as a DRF client would (decimals as JSON numbers, read-only fields too)."""
        body = {
            "name": "Trend",
            "description": "SMA cross",
            "strategy": "moving_average",
            "trading_pairs": [self.pairs["BTC/USD"].id],
            "is_paper_trading": True,
            "max_position_size": Decimal("1000"),
            "stop_loss_percentage": Decimal("2.00"),
            "take_profit_percentage": Decimal("5.00"),
            "max_daily_loss": Decimal("100.00"),
            "parameters": {"short_period": 20, "long_period": 50},
            "is_active": True,
            "total_trades": 7,
        } | extra
        return self.ok(self.post_json("/bots/", body), 201)

    def bot_trade(self) -> dict:
        """A bot that bought on its first bar (custom rule on stored candles)."""
        from tests.bots.engine_helpers import store_closes
        from tradeapp.services.bots import engine

        bot = self.bot(strategy="custom", parameters={"entry_rule": "close > 100", "exit_rule": "close < 50"})
        self.ok(self.api.post(f"{API}/bots/{bot['id']}/start/"))
        engine.run_bar("1h", store_closes(self.pairs["BTC/USD"], [90, 101]))
        return bot

    def post_json(self, path, body, client=None):
        """A JSON body with exact decimals (``100.10``), as the seed's clients send them."""
        client = client or self.api
        return client.client.post(
            f"{API}{path}", data=_json(body), content_type="application/json", headers=client._headers(None)
        )

    def patch_json(self, path, body):
        return self.api.client.patch(
            f"{API}{path}", data=_json(body), content_type="application/json", headers=self.api._headers(None)
        )


def _json(body) -> str:
    """JSON with Decimals written as numbers, digit for digit (``Decimal("100.10")`` → ``100.10``)."""

    def mark(value):
        if isinstance(value, Decimal):
            return f"@@{value}@@"
        raise TypeError(value)

    return re.sub(r'"@@([0-9.]+)@@"', r"\1", json.dumps(body, default=mark))


# -- one seed-shaped call per row ---------------------------------------------------------------------


def call(w: World, row: Row):
    """Make the row's call as a client of the seed would; return the response."""
    a = w.api
    match (row.method, row.path):
        case ("POST", "/auth/register/"):
            body = {
                "email": "carol@example.com",
                "username": "carol",
                "password": "Tangerine-Kettle-42",
                "password_confirm": "Tangerine-Kettle-42",
                "first_name": "Carol",
                "last_name": "C",
                "phone_number": "",
                "referred_by_code": "",
            }
            return w.anon.post(f"{API}/auth/register/", json=body)
        case ("POST", "/auth/login/"):
            return w.anon.post(f"{API}/auth/login/", json={"email": w.alice.email, "password": PASSWORD})
        case ("POST", "/auth/refresh/"):
            tokens = w.ok(w.anon.post(f"{API}/auth/login/", json={"email": w.alice.email, "password": PASSWORD}))
            return w.anon.post(f"{API}/auth/refresh/", json={"refresh": tokens["refresh"]})
        case ("POST", "/auth/logout/"):
            tokens = w.ok(w.anon.post(f"{API}/auth/login/", json={"email": w.alice.email, "password": PASSWORD}))
            return ApiClient(w.app.test_client(), tokens["access"]).post(
                f"{API}/auth/logout/", json={"refresh": tokens["refresh"]}
            )
        case ("POST", "/auth/password-reset/"):
            return w.anon.post(f"{API}/auth/password-reset/", json={"email": w.alice.email})
        case ("POST", "/auth/password-reset-confirm/"):
            w.ok(w.anon.post(f"{API}/auth/password-reset/", json={"email": w.alice.email}))
            token = reset_token_from_mail(outbox_messages()[-1]["text"])
            body = {"token": token, "password": "Marmalade-Compass-77", "password_confirm": "Marmalade-Compass-77"}
            return w.anon.post(f"{API}/auth/password-reset-confirm/", json=body)
        case ("GET", "/auth/me/"):
            return a.get(f"{API}/auth/me/")
        case ("PATCH", "/auth/me/"):
            me = w.ok(a.get(f"{API}/auth/me/"))  # the whole object back, read-only fields and all
            return w.patch_json("/auth/me/", {**me, "first_name": "Alicia", "kyc_status": "rejected", "id": 999})
        case ("POST", "/kyc/submit/"):
            bob = w.client_for(w.bob)
            body = multipart(valid_data(), valid_files())
            return bob.client.post(
                f"{API}/kyc/submit/", data=body, content_type="multipart/form-data", headers=bob._headers(None)
            )
        case ("GET", "/kyc/status/"):
            return a.get(f"{API}/kyc/status/")
        case ("GET", "/kyc/"):
            w.submission()
            return w.client_for(w.bob).get(f"{API}/kyc/")
        case ("GET", "/kyc/{id}/"):
            return w.client_for(w.bob).get(f"{API}/kyc/{w.submission().id}/")
        case ("GET", "/kyc/pending/"):
            w.submission()
            return w.reviewer.get(f"{API}/kyc/pending/")
        case ("POST", "/kyc/{id}/approve/"):
            return w.reviewer.post(f"{API}/kyc/{w.submission().id}/approve/", json={})
        case ("POST", "/kyc/{id}/reject/"):
            return w.reviewer.post(f"{API}/kyc/{w.submission().id}/reject/", json={"reason": "The photo is blurred."})
        case ("GET", "/wallets/"):
            return a.get(f"{API}/wallets/")
        case ("GET", "/wallets/{currency}/"):
            return a.get(f"{API}/wallets/USD/")
        case ("GET", "/wallets/{id}/"):
            wallet = w.ok(a.get(f"{API}/wallets/USD/"))
            return a.get(f"{API}/wallets/{wallet['id']}/")
        case ("POST", "/deposits/"):
            # The seed's request: no currency (USD by default), the method's details inside payment_details.
            body = {
                "payment_method": "bank_transfer",
                "amount": Decimal("100.10"),
                "payment_details": {"bank_name": "Bank of Alice"},
            }
            return w.post_json("/deposits/", body)
        case ("GET", "/deposits/"):
            w.deposit()
            return a.get(f"{API}/deposits/")
        case ("GET", "/deposits/{id}/"):
            return a.get(f"{API}/deposits/{w.deposit()['id']}/")
        case ("POST", "/withdrawals/"):
            body = {
                "currency": "USD",
                "amount": Decimal("100.00"),
                "destination_type": "bank_account",
                "destination_details": BANK,
            }
            return w.post_json("/withdrawals/", body)
        case ("GET", "/withdrawals/"):
            w.withdrawal()
            return a.get(f"{API}/withdrawals/")
        case ("GET", "/withdrawals/{id}/"):
            return a.get(f"{API}/withdrawals/{w.withdrawal()['id']}/")
        case ("POST", "/transfers/"):
            return w.post_json("/transfers/", {"to_username": "bob", "currency": "USD", "amount": Decimal("25.50")})
        case ("GET", "/transactions/"):
            w.transfer()
            return a.get(f"{API}/transactions/")
        case ("GET", "/transactions/{id}/"):
            txn = w.transfer()
            return a.get(f"{API}/transactions/{txn['id']}/")
        case ("GET", "/trading-pairs/"):
            return w.anon.get(f"{API}/trading-pairs/")
        case ("GET", "/trading-pairs/{id}/"):
            return w.anon.get(f"{API}/trading-pairs/{w.pairs['BTC/USD'].id}/")
        case ("GET", "/trading-pairs/{id}/market_data/"):
            return w.anon.get(f"{API}/trading-pairs/{w.pairs['BTC/USD'].id}/market_data/")
        case ("GET", "/market-data/{symbol}/"):
            encoded = w.anon.get(f"{API}/market-data/{quote('BTC/USD', safe='')}/")
            dashed = w.anon.get(f"{API}/market-data/BTC-USD/")
            assert encoded.status_code == 200 and encoded.get_json()["symbol"] == dashed.get_json()["symbol"]
            return encoded
        case ("POST", "/orders/"):
            body = {
                "trading_pair": str(w.pairs["BTC/USD"].id),
                "order_type": "limit",
                "side": "buy",
                "quantity": Decimal("0.01"),
                "price": Decimal("40000.00"),
                "status": "filled",
                "fee": "0",
            }
            return w.post_json("/orders/", body)
        case ("GET", "/orders/"):
            w.order()
            return a.get(f"{API}/orders/")
        case ("GET", "/orders/{id}/"):
            return a.get(f"{API}/orders/{w.order()['id']}/")
        case ("DELETE", "/orders/{id}/"):
            return a.delete(f"{API}/orders/{w.order()['id']}/")
        case ("POST", "/orders/{id}/cancel/"):
            return a.post(f"{API}/orders/{w.order()['id']}/cancel/")
        case ("GET", "/trades/"):
            w.position()
            return a.get(f"{API}/trades/")
        case ("GET", "/positions/"):
            w.position()
            return a.get(f"{API}/positions/")
        case ("GET", "/positions/{id}/"):
            return a.get(f"{API}/positions/{w.position()['id']}/")
        case ("POST", "/positions/{id}/close/"):
            return a.post(f"{API}/positions/{w.position()['id']}/close/")
        case ("GET", "/notifications/"):
            w.notification()
            return a.get(f"{API}/notifications/")
        case ("GET", "/notifications/{id}/"):
            return a.get(f"{API}/notifications/{w.notification().id}/")
        case ("POST", "/notifications/{id}/read/"):
            return a.post(f"{API}/notifications/{w.notification().id}/read/")
        case ("POST", "/notifications/read-all/"):
            w.notification()
            return a.post(f"{API}/notifications/read-all/")
        case ("GET", "/notification-preferences/"):
            return a.get(f"{API}/notification-preferences/")
        case ("PATCH", "/notification-preferences/"):
            body = {"preferences": [{"kind": "order_filled", "email": True}]}
            return w.patch_json("/notification-preferences/", body)
        case ("GET", "/traders/"):
            _lead(w)
            return a.get(f"{API}/traders/")
        case ("GET", "/traders/{id}/"):
            return a.get(f"{API}/traders/{_lead(w)}/")
        case ("POST", "/copy-trading/subscribe/") | ("POST", "/copy-trading/"):
            # the seed's serializer fields, decimals as JSON numbers, read-only ones included
            body = {"trader": _lead(w), "copy_percentage": Decimal("25.00"), "max_position_size": Decimal("1000.00")}
            body.update(stop_loss_percentage=Decimal("20.00"), is_active=True, id=999)
            return w.post_json(row.path, body)
        case ("GET", "/copy-trading/subscriptions/") | ("GET", "/copy-trading/"):
            _subscription(w)
            return a.get(f"{API}{row.path}")
        case ("GET", "/copy-trading/{id}/"):
            return a.get(f"{API}/copy-trading/{_subscription(w)['id']}/")
        case ("PATCH", "/copy-trading/subscriptions/{id}/") | ("PATCH", "/copy-trading/{id}/"):
            sub = _subscription(w)
            path = row.path.replace("{id}", str(sub["id"]))
            return w.patch_json(path, {**sub, "copy_percentage": Decimal("30.00"), "trader_detail": None})
        case ("DELETE", "/copy-trading/subscribe/{id}/") | ("DELETE", "/copy-trading/{id}/"):
            return a.delete(f"{API}{row.path.replace('{id}', str(_subscription(w)['id']))}")
        case ("GET", "/copy-trading/performance/"):
            _subscription(w)
            return a.get(f"{API}/copy-trading/performance/")
        case ("GET", "/copied-trades/"):
            _copied(w)
            return a.get(f"{API}/copied-trades/")
        case ("GET", "/copied-trades/{id}/"):
            _copied(w)
            first = w.ok(a.get(f"{API}/copied-trades/"))["results"][0]
            return a.get(f"{API}/copied-trades/{first['id']}/")
        case ("GET", "/bots/"):
            w.bot()
            return a.get(f"{API}/bots/")
        case ("POST", "/bots/"):
            return w.post_json(
                "/bots/",
                {
                    "name": "Trend",
                    "description": "",
                    "strategy": "rsi",
                    "trading_pairs": [w.pairs["BTC/USD"].id],
                    "is_paper_trading": True,
                    "max_position_size": Decimal("500.00"),
                    "stop_loss_percentage": Decimal("2.50"),
                    "take_profit_percentage": Decimal("5.00"),
                    "max_daily_loss": Decimal("50.00"),
                    "parameters": {"rsi_period": 14, "oversold_level": 30, "overbought_level": 70},
                },
            )
        case ("GET", "/bots/{id}/"):
            return a.get(f"{API}/bots/{w.bot()['id']}/")
        case ("PATCH", "/bots/{id}/"):
            bot = w.bot()
            return w.patch_json(f"/bots/{bot['id']}/", {**bot, "name": "Renamed", "is_active": True, "win_rate": 99})
        case ("DELETE", "/bots/{id}/"):
            return a.delete(f"{API}/bots/{w.bot()['id']}/")
        case ("POST", "/bots/{id}/start/"):
            return a.post(f"{API}/bots/{w.bot()['id']}/start/")
        case ("POST", "/bots/{id}/stop/"):
            bot = w.bot()
            w.ok(a.post(f"{API}/bots/{bot['id']}/start/"))
            return a.post(f"{API}/bots/{bot['id']}/stop/")
        case ("GET", "/bots/{id}/performance/"):
            return a.get(f"{API}/bots/{w.bot_trade()['id']}/performance/")
        case ("GET", "/bot-strategies/"):
            return a.get(f"{API}/bot-strategies/")
        case ("GET", "/bot-trades/"):
            w.bot_trade()
            return a.get(f"{API}/bot-trades/")
        case ("GET", "/bot-trades/{id}/"):
            w.bot_trade()
            trade = w.ok(a.get(f"{API}/bot-trades/"))["results"][0]
            return a.get(f"{API}/bot-trades/{trade['id']}/")
        case ("GET", "/loan-products/"):
            w.loan_product()
            return a.get(f"{API}/loan-products/")
        case ("GET", "/loan-products/{id}/"):
            return a.get(f"{API}/loan-products/{w.loan_product().id}/")
        case ("POST", "/loans/"):
            body = {
                "product": w.loan_product().id,
                "amount": Decimal("1000.00"),
                "collateral_amount": Decimal("0.05"),
                "collateral_currency": "BTC",
                "status": "active",
                "outstanding_balance": "0",
                "interest_rate": "0.01",
            }
            return w.post_json("/loans/", body)
        case ("GET", "/loans/"):
            w.loan()
            return a.get(f"{API}/loans/")
        case ("GET", "/loans/{id}/"):
            return a.get(f"{API}/loans/{w.loan()['id']}/")
        case ("POST", "/loans/{id}/repay/"):
            return w.post_json(f"/loans/{w.loan(approve=True)['id']}/repay/", {"amount": Decimal("100.00")})
        case ("GET", "/loans/pending/"):
            w.loan()
            return w.lender.get(f"{API}/loans/pending/")
        case ("POST", "/loans/{id}/approve/"):
            return w.lender.post(f"{API}/loans/{w.loan()['id']}/approve/")
        case ("POST", "/loans/{id}/reject/"):
            return w.lender.post(f"{API}/loans/{w.loan()['id']}/reject/", json={"reason": "Source of funds unclear."})
        case ("GET", "/loan-repayments/"):
            w.ok(w.post_json(f"/loans/{w.loan(approve=True)['id']}/repay/", {"amount": Decimal("100.00")}))
            return a.get(f"{API}/loan-repayments/")
        case ("GET", "/loan-repayments/{id}/"):
            w.ok(w.post_json(f"/loans/{w.loan(approve=True)['id']}/repay/", {"amount": Decimal("100.00")}))
            rid = w.ok(a.get(f"{API}/loan-repayments/"))["results"][0]["id"]
            return a.get(f"{API}/loan-repayments/{rid}/")
        case ("GET", "/referrals/code/") | ("GET", "/referrals/stats/"):
            w.referral()
            return a.get(f"{API}{row.path}")
        case (
            ("GET", "/referrals/rewards/")
            | ("GET", "/referrals/referred-users/")
            | ("GET", "/referrals/referred_users/")
        ):
            w.referral()
            return a.get(f"{API}{row.path}")
        case ("GET", "/security/"):
            return a.get(f"{API}/security/")
        case ("PATCH", "/security/"):
            return w.patch_json("/security/", {"whitelist_only": True, "anti_phishing_phrase": "blue heron"})
        case ("GET", "/sessions/"):
            w.session()
            return a.get(f"{API}/sessions/")
        case ("POST", "/sessions/{id}/revoke/"):
            return a.post(f"{API}/sessions/{w.session().id}/revoke/")
        case ("DELETE", "/sessions/{id}/"):
            return a.delete(f"{API}/sessions/{w.session().id}/")
        case ("POST", "/sessions/revoke-all/"):
            w.session()
            return a.post(f"{API}/sessions/revoke-all/")
        case ("GET", "/withdrawal-addresses/"):
            w.address()
            return a.get(f"{API}/withdrawal-addresses/")
        case ("POST", "/withdrawal-addresses/"):
            body = {"label": "Main", "currency": "USD", "destination_type": "bank_account", "destination_details": BANK}
            return w.post_json("/withdrawal-addresses/", body)
        case ("GET", "/withdrawal-addresses/{id}/"):
            return a.get(f"{API}/withdrawal-addresses/{w.address()['id']}/")
        case ("DELETE", "/withdrawal-addresses/{id}/"):
            return a.delete(f"{API}/withdrawal-addresses/{w.address()['id']}/")
    if row.path.startswith("/signal"):
        return signal_call(w, row)
    raise AssertionError(f"no call for {row.id}")


def _lead(w: World) -> int:
    """Bob, an approved lead trader with money (made once per test)."""
    from tradeapp.models import Trader

    if getattr(w, "lead_id", None) is None:
        fund(w.bob, "USD", "100000")
        trader = Trader(user_id=w.bob.id, display_name="Bob Trend", bio="Trend", status="approved")
        w.db.session.add(trader)
        w.db.session.commit()
        w.lead_id = trader.id
    return w.lead_id


def _subscription(w: World) -> dict:
    return w.ok(w.api.post(f"{API}/copy-trading/", json={"trader": _lead(w), "copy_percentage": "50"}), 201)


def _copied(w: World) -> None:
    """Alice follows Bob, who buys: one copied trade."""
    _subscription(w)
    bob = w.client_for(w.bob)
    body = {"symbol": "BTC-USD", "order_type": "market", "side": "buy", "quantity": "1"}
    w.ok(bob.post(f"{API}/orders/", json=body), 201)


@pytest.fixture()
def world(app, db, user, create_user, create_staff, pairs, market):
    return World(app, db, user, create_user, create_staff, pairs, market)


@pytest.fixture(scope="module")
def spec(app):
    return app.test_client().get("/api/schema/").get_json()


# -- the checks --------------------------------------------------------------------------------------------


def _items(row: Row, body) -> list[dict]:
    """The objects the seed's serializer describes in ``body``."""
    if row.at == "results":
        assert {"count", "next", "previous", "results"} <= set(body)
        assert body["results"], f"{row.id}: an empty page proves nothing"
        return body["results"]
    return [body[row.at] if row.at else body]


def _check_object(where: str, obj: dict, fields, choices: dict, nested: dict) -> None:
    missing = set(fields) - set(obj)
    assert not missing, f"{where}: missing seed fields {sorted(missing)}"
    for name, values in choices.items():
        if obj.get(name) is not None:
            assert obj[name] in values, f"{where}: {name}={obj[name]!r} is not one of {values}"
    for name, (sub_fields, sub_choices) in nested.items():
        if obj.get(name) is not None:
            _check_object(f"{where}.{name}", obj[name], sub_fields, sub_choices, {})


def _served(row: Row) -> dict:
    return {**row.choices, **row.served}


@pytest.mark.parametrize("row", TABLE, ids=lambda r: r.id)
def test_the_seed_request_gets_the_seed_answer(world, row):
    r = call(world, row)
    assert r.status_code == row.status, f"{row.id}: {r.status_code} {r.get_data(as_text=True)[:500]}"
    if row.status == 204:
        assert r.get_data() == b""
        return
    body = r.get_json()
    for obj in _items(row, body):
        _check_object(row.id, obj, row.fields, _served(row), row.nested)


def _resolve(spec: dict, schema: dict) -> dict:
    """Follow ``$ref`` (and the ``allOf: [$ref]`` wrapper of a read-only nested schema)."""
    while "$ref" in schema or len(schema.get("allOf", ())) == 1:
        if "$ref" not in schema:
            schema = schema["allOf"][0]
            continue
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def _doc_object(spec: dict, row: Row) -> dict:
    operation = spec["paths"][row.doc_path][row.method.lower()]
    response = operation["responses"][str(row.status)]
    schema = _resolve(spec, response["content"]["application/json"]["schema"])
    if row.at == "results":
        schema = _resolve(spec, schema["properties"]["results"]["items"])
    elif row.at:
        schema = _resolve(spec, schema["properties"][row.at])
    return schema


def _check_doc(spec, where: str, schema: dict, fields, choices: dict, nested: dict) -> None:
    properties = schema.get("properties", {})
    missing = set(fields) - set(properties)
    assert not missing, f"{where}: the OpenAPI document lacks {sorted(missing)}"
    for name, values in choices.items():
        documented = _resolve(spec, properties[name]).get("enum")
        assert documented is not None and set(documented) == set(values), f"{where}: {name} enum {documented}"
    for name, (sub_fields, sub_choices) in nested.items():
        _check_doc(spec, f"{where}.{name}", _resolve(spec, properties[name]), sub_fields, sub_choices, {})


@pytest.mark.parametrize("row", TABLE, ids=lambda r: r.id)
def test_the_openapi_document_describes_the_seed_contract(spec, row):
    assert row.doc_path in spec["paths"], row.doc_path
    assert row.method.lower() in spec["paths"][row.doc_path], row.id
    if row.status == 204:
        assert str(row.status) in spec["paths"][row.doc_path][row.method.lower()]["responses"]
        return
    _check_doc(spec, row.id, _doc_object(spec, row), row.fields, _served(row), row.nested)


@pytest.mark.parametrize("row", TABLE, ids=lambda r: r.id)
def test_every_difference_is_written_down(spec, row):
    """Nothing differs silently: the row's differences are in the API description for clients."""
    description = spec["info"]["description"]
    for text in differences_of(row):
        assert text in description, f"{row.id}: not in the API description: {text}"


def test_every_named_difference_is_used_by_a_row():
    used = {key for row in TABLE for key in row.differences}
    assert used == set(DIFFERENCES)


def test_the_api_root_lists_the_seed_router(api_client, db):
    """The seed's DefaultRouter root: each registered collection's name and URL."""
    body = api_client.get(f"{API}/").get_json()
    for name in (
        "kyc",
        "wallets",
        "transactions",
        "deposits",
        "withdrawals",
        "trading-pairs",
        "orders",
        "positions",
        "loan-products",
        "loans",
        "loan-repayments",
    ):
        assert body[name].endswith(f"{API}/{name}/"), name


@pytest.mark.parametrize("path", ["/api/schema/", "/api/docs/", "/api/redoc/"])
def test_the_seed_documentation_urls(api_client, db, path):
    assert api_client.get(path).status_code == 200


def test_protected_values_sent_back_never_change(world):
    """PATCH /auth/me/ with the whole user, kyc_status and id altered: only the writable field changes."""
    r = call(world, next(row for row in TABLE if row.id == "PATCH /auth/me/"))
    me = r.get_json()
    assert me["first_name"] == "Alicia" and me["kyc_status"] == "approved" and me["id"] == world.alice.id


def test_deposit_payment_details_are_kept_and_crypto_reads_network_from_them(world):
    r = world.post_json(
        "/deposits/",
        {
            "payment_method": "crypto",
            "currency": "BTC",
            "amount": Decimal("0.015"),
            "payment_details": {"network": "bitcoin", "wallet_label": "cold"},
        },
    )
    body = world.ok(r, 201)
    details = body["payment_details"]
    assert details["network"] == "bitcoin" and details["address"] and details["wallet_label"] == "cold"
    assert body["amount"] == "0.01500000" and body["currency"] == "BTC"
