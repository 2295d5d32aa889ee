"""Production refuses demo rails and host-derived links; sandbox and dev pages exist in embedded mode only."""

import re

import pytest
from sqlalchemy import select

from tests.test_config import SETTINGS
from tradeapp.config import Config
from tradeapp.mail import outbox_messages
from tradeapp.models.funds import Deposit
from tradeapp.services import deposits


@pytest.fixture()
def production_env(monkeypatch, tmp_path):
    """A clean production environment with a good secret, a BASE_URL and real providers."""
    for name in SETTINGS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("INSTANCE_DIR", str(tmp_path / "instance"))
    monkeypatch.setenv("DATABASE_URL", "postgres://tradeapp@db.internal:5432/tradeapp")
    monkeypatch.setenv("REDIS_URL", "redis://cache.internal:6379/0")
    monkeypatch.setenv("SECRET_KEY", "s" * 48)
    monkeypatch.setenv("BASE_URL", "https://trade.example.com/")
    monkeypatch.setenv("STRIPE_SECRET_KEY", "sk_live_x")
    monkeypatch.setenv("PAYOUT_PROVIDER", "manual_bank")
    return monkeypatch


def test_production_with_real_providers_starts(production_env):
    config = Config()
    config.check()
    assert config.BASE_URL == "https://trade.example.com"
    assert config.TRUSTED_PROXY_COUNT == 0


@pytest.mark.parametrize(
    ("unset", "setting", "value"),
    [
        ("STRIPE_SECRET_KEY", None, None),  # the default card provider is then the sandbox
        (None, "PAYMENTS_PROVIDER", "sandbox"),
        ("PAYOUT_PROVIDER", None, None),  # the default payout rail is the sandbox
        (None, "PAYOUT_PROVIDER_BANK", "sandbox"),
    ],
)
def test_production_refuses_sandbox_providers(production_env, unset, setting, value):
    if unset:
        production_env.delenv(unset)
    if setting:
        production_env.setenv(setting, value)
    with pytest.raises(RuntimeError, match="ALLOW_SANDBOX_PROVIDERS_IN_PRODUCTION"):
        Config().check()


def test_the_loud_setting_allows_sandbox_providers(production_env):
    production_env.delenv("STRIPE_SECRET_KEY")
    production_env.delenv("PAYOUT_PROVIDER")
    production_env.setenv("ALLOW_SANDBOX_PROVIDERS_IN_PRODUCTION", "true")
    Config().check()


def test_production_requires_base_url(production_env):
    production_env.delenv("BASE_URL")
    with pytest.raises(RuntimeError, match="BASE_URL"):
        Config().check()


def test_embedded_base_url_defaults_to_the_local_port(monkeypatch, tmp_path):
    for name in SETTINGS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("INSTANCE_DIR", str(tmp_path / "instance"))
    monkeypatch.setenv("PORT", "6123")
    config = Config()
    config.check()
    assert config.BASE_URL == "http://127.0.0.1:6123"


# -- sandbox and dev routes ---------------------------------------------------------------------


def _production_mode(app, monkeypatch):
    monkeypatch.setitem(app.config, "EMBEDDED", False)
    monkeypatch.setitem(app.config, "ALLOW_SANDBOX_PROVIDERS_IN_PRODUCTION", False)


def _csrf(client) -> str:
    html = client.get("/deposits/").get_data(as_text=True)
    return re.search(r'"X-CSRFToken": "([^"]+)"', html).group(1)


def test_sandbox_card_page_is_404_outside_embedded_mode(app, logged_in_client, user, monkeypatch):
    created = deposits.create_card_deposit(user, "USD", "1000000.00")
    deposit_id = created.deposit.id
    token = _csrf(logged_in_client)
    _production_mode(app, monkeypatch)
    r = logged_in_client.post(
        f"/deposits/{deposit_id}/pay", data={"csrf_token": token, "card_number": "4242 4242 4242 4242"}
    )
    assert r.status_code == 404
    deposit = logged_in_client.application.extensions["sqlalchemy"].session.scalar(select(Deposit))
    assert deposit.status != "completed"


def test_sandbox_card_page_works_in_embedded_mode(app, logged_in_client, user, monkeypatch):
    monkeypatch.setitem(app.config, "EMBEDDED", True)
    monkeypatch.setitem(app.config, "ALLOW_SANDBOX_PROVIDERS_IN_PRODUCTION", False)
    deposit_id = deposits.create_card_deposit(user, "USD", "10.00").deposit.id
    token = _csrf(logged_in_client)
    r = logged_in_client.post(
        f"/deposits/{deposit_id}/pay", data={"csrf_token": token, "card_number": "4242424242424242"}
    )
    assert r.status_code == 200 and "is in your wallet" in r.get_data(as_text=True)


def test_outbox_is_404_outside_embedded_mode(app, client, db, monkeypatch):
    monkeypatch.setitem(app.config, "MAIL_BACKEND", "outbox")
    monkeypatch.setitem(app.config, "EMBEDDED", False)
    assert client.get("/dev/outbox").status_code == 404
    monkeypatch.setitem(app.config, "EMBEDDED", True)
    assert client.get("/dev/outbox").status_code == 200


# -- links from BASE_URL ------------------------------------------------------------------------


@pytest.mark.parametrize("header", ["Host", "X-Forwarded-Host"])
def test_reset_link_ignores_the_request_host(app, client, user, monkeypatch, header):
    monkeypatch.setitem(app.config, "BASE_URL", "https://trade.example.com")
    r = client.post(
        "/api/v1/auth/password-reset/",
        json={"email": user.email},
        headers={header: "evil.example", "X-Forwarded-Proto": "https"},
    )
    assert r.status_code == 200
    (mail,) = outbox_messages()
    assert "evil.example" not in mail["text"]
    assert "https://trade.example.com/auth/password/reset/" in mail["text"]


def test_verification_link_ignores_the_request_host(app, client, db, monkeypatch):
    from tests.api.helpers import register_payload

    monkeypatch.setitem(app.config, "BASE_URL", "https://trade.example.com")
    r = client.post("/api/v1/auth/register/", json=register_payload(), headers={"X-Forwarded-Host": "evil.example"})
    assert r.status_code == 201
    (mail,) = outbox_messages()
    assert "evil.example" not in mail["text"]
    assert "https://trade.example.com/auth/verify/" in mail["text"]
