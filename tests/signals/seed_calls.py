"""The seed-shaped calls of the signals rows of ``tests/api/seed_table.py`` (used by the conformance test)."""

from tests.signals.conftest import make_plan, make_provider

API = "/api/v1"


def _setup(w) -> dict:
    """A provider, a plan on BTC/USD, Alice subscribed, one published signal delivered to her (made once)."""
    found = getattr(w, "_signals", None)
    if found is not None:
        return found
    from tradeapp.services.signals import publishing, subscriptions

    provider = make_provider()
    plan = make_plan(provider, [w.pairs["BTC/USD"]])
    other_plan = make_plan(provider, [w.pairs["BTC/USD"]], name="Other")
    sub = subscriptions.subscribe(w.alice, plan.id)
    signal = publishing.publish(
        None,
        {
            "provider": provider.id,
            "trading_pair": w.pairs["BTC/USD"].id,
            "signal_type": "buy",
            "entry_price": "50000",
            "stop_loss": "30000",
            "take_profit": "90000",
            "timeframe": "4h",
            "confidence": "70",
            "analysis": "Seed conformance.",
        },
    )
    notes = w.ok(w.api.get(f"{API}/signal-notifications/"))["results"]
    w._signals = {
        "provider": provider.id,
        "plan": plan.id,
        "other_plan": other_plan.id,
        "sub": sub.id,
        "signal": signal.id,
        "note": notes[0]["id"],
    }
    return w._signals


def signal_call(w, row):
    a = w.api
    s = _setup(w)
    match (row.method, row.path):
        case ("GET", "/signal-providers/"):
            return a.get(f"{API}/signal-providers/")
        case ("GET", "/signal-providers/{id}/"):
            return a.get(f"{API}/signal-providers/{s['provider']}/")
        case ("GET", "/signal-plans/"):
            return a.get(f"{API}/signal-plans/")
        case ("GET", "/signal-plans/{id}/"):
            return a.get(f"{API}/signal-plans/{s['plan']}/")
        case ("POST", "/signal-subscriptions/"):
            # the seed's serializer sent back whole: read-only fields are ignored
            body = {
                "plan": s["other_plan"],
                "status": "expired",
                "auto_renew": True,
                "expires_at": "2000-01-01T00:00:00Z",
            }
            return w.post_json("/signal-subscriptions/", body)
        case ("GET", "/signal-subscriptions/"):
            return a.get(f"{API}/signal-subscriptions/")
        case ("GET", "/signal-subscriptions/{id}/"):
            return a.get(f"{API}/signal-subscriptions/{s['sub']}/")
        case ("DELETE", "/signal-subscriptions/{id}/"):
            return a.delete(f"{API}/signal-subscriptions/{s['sub']}/")
        case ("POST", "/signal-subscriptions/{id}/cancel/"):
            return a.post(f"{API}/signal-subscriptions/{s['sub']}/cancel/")
        case ("GET", "/signals/"):
            return a.get(f"{API}/signals/")
        case ("GET", "/signals/{id}/"):
            return a.get(f"{API}/signals/{s['signal']}/")
        case ("POST", "/signals/{id}/execute/"):
            from decimal import Decimal

            return w.post_json(f"/signals/{s['signal']}/execute/", {"quantity": Decimal("0.01")})
        case ("GET", "/signal-notifications/"):
            return a.get(f"{API}/signal-notifications/")
        case ("GET", "/signal-notifications/{id}/"):
            return a.get(f"{API}/signal-notifications/{s['note']}/")
        case ("POST", "/signal-notifications/{id}/mark_read/"):
            return a.post(f"{API}/signal-notifications/{s['note']}/mark_read/")
    raise AssertionError(f"no call for {row.id}")


def idor_objects(owner, pairs) -> dict:
    """The owner's signals objects for ``tests/security/test_idor.py``: a subscription, a signal delivered
    to them and its notification, and the provider and plan (public: nobody's)."""
    from sqlalchemy import select

    from tradeapp.extensions import db
    from tradeapp.models import SignalNotification
    from tradeapp.services.signals import publishing, subscriptions

    provider = make_provider("IDOR desk")
    plan = make_plan(provider, [pairs["BTC/USD"]])
    sub = subscriptions.subscribe(owner, plan.id)
    signal = publishing.publish(
        None,
        {
            "provider": provider.id,
            "trading_pair": pairs["BTC/USD"].id,
            "signal_type": "buy",
            "entry_price": "50000",
            "stop_loss": "30000",
            "take_profit": "90000",
            "timeframe": "4h",
            "confidence": "70",
        },
    )
    note = db.session.scalar(select(SignalNotification.id).where(SignalNotification.user_id == owner.id))
    return {
        "provider_id": provider.id,
        "plan_id": plan.id,
        "subscription_id": sub.id,
        "signal_id": signal.id,
        "signal_notification_id": note,
    }
