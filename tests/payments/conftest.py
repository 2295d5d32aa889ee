"""Stripe offline: localstripe served on 127.0.0.1 from a background thread, and signed events."""

import asyncio
import json
import threading
import time

import pytest
import stripe

WEBHOOK_SECRET = "whsec_test_secret_for_tradeapp"
SECRET_KEY = "sk_test_tradeapp_localstripe"


@pytest.fixture(scope="session")
def localstripe_url():
    """localstripe's aiohttp app on 127.0.0.1 and a free port (its CLI would bind every interface)."""
    from aiohttp import web
    from localstripe.server import app as localstripe_app

    loop = asyncio.new_event_loop()
    ready = threading.Event()
    state: dict = {}

    def serve():
        asyncio.set_event_loop(loop)
        runner = web.AppRunner(localstripe_app, access_log=None)
        loop.run_until_complete(runner.setup())
        site = web.TCPSite(runner, "127.0.0.1", 0)
        loop.run_until_complete(site.start())
        state["runner"] = runner
        state["port"] = runner.addresses[0][1]
        ready.set()
        loop.run_forever()

    thread = threading.Thread(target=serve, name="localstripe", daemon=True)
    thread.start()
    assert ready.wait(15), "localstripe did not start"
    yield f"http://127.0.0.1:{state['port']}"
    asyncio.run_coroutine_threadsafe(state["runner"].cleanup(), loop).result(15)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(15)


@pytest.fixture()
def stripe_mode(app, localstripe_url):
    """The app configured for Stripe, pointed at localstripe; restored afterwards."""
    keys = (
        "PAYMENTS_PROVIDER",
        "STRIPE_SECRET_KEY",
        "STRIPE_API_BASE",
        "STRIPE_WEBHOOK_SECRET",
        "STRIPE_PUBLISHABLE_KEY",
    )
    saved = {k: app.config.get(k) for k in keys}
    app.config.update(
        PAYMENTS_PROVIDER="stripe",
        STRIPE_SECRET_KEY=SECRET_KEY,
        STRIPE_API_BASE=localstripe_url,
        STRIPE_WEBHOOK_SECRET=WEBHOOK_SECRET,
        STRIPE_PUBLISHABLE_KEY="",
    )
    yield stripe.StripeClient(SECRET_KEY, base_addresses={"api": localstripe_url})
    app.config.update(saved)


@pytest.fixture()
def webhook_secret(app):
    saved = app.config.get("STRIPE_WEBHOOK_SECRET")
    app.config["STRIPE_WEBHOOK_SECRET"] = WEBHOOK_SECRET
    yield WEBHOOK_SECRET
    app.config["STRIPE_WEBHOOK_SECRET"] = saved


def event(event_type: str, obj: dict, event_id: str | None = None) -> bytes:
    """A Stripe event envelope around ``obj``, as Stripe sends it."""
    return json.dumps(
        {
            "id": event_id or f"evt_{event_type.replace('.', '_')}_{obj.get('id', '')}",
            "object": "event",
            "type": event_type,
            "created": int(time.time()),
            "livemode": False,
            "api_version": "2024-06-20",
            "data": {"object": obj},
        }
    ).encode()


def signed(payload: bytes, secret: str = WEBHOOK_SECRET) -> dict:
    header = stripe.WebhookSignature.generate_signature_header(payload.decode(), secret)
    return {"Stripe-Signature": header, "Content-Type": "application/json"}


def post_event(client, payload: bytes, headers: dict | None = None):
    return client.post("/webhooks/stripe", data=payload, headers=headers if headers is not None else signed(payload))
