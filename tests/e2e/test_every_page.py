"""Every page, customer and staff, in a real browser: nothing scrolls sideways at 390 px, no console errors.

The pages are not listed by hand: the walk takes every GET route without parameters from the app's
url_map (so a domain added later is walked too) and the detail pages linked from them (one per URL
shape, e.g. ``/staff/users/<n>``), over the demo data of every domain's seed step.
"""

import re
from urllib.parse import urlparse

import pytest
from sqlalchemy import select

from tests.e2e.conftest import ARTIFACTS, EXPECTED_CONSOLE_ERROR, TIMEOUT_MS
from tradeapp.services.seed import DEMO_ADMIN, DEMO_CUSTOMER

pytestmark = pytest.mark.e2e

#: not pages: the API, webhooks, files, downloads, health checks
SKIP_PREFIXES = ("/api/", "/webhooks/", "/static/", "/socket.io")
SKIP_ENDPOINTS = {"main.health", "apidocs.docs", "apidocs.redoc", "apidocs.openapi_json", "staff.two_factor"}
#: detail pages linked from the walked pages: at most this many per URL shape
DETAILS_PER_SHAPE = 1


def page_routes(app, staff: bool) -> list[str]:
    """Paths of every GET route without parameters, of the staff console or of the customer site."""
    paths = []
    for rule in app.url_map.iter_rules():
        path = rule.rule
        if "GET" not in rule.methods or rule.arguments or rule.endpoint in SKIP_ENDPOINTS:
            continue
        if path.startswith(SKIP_PREFIXES) or path.endswith((".csv", ".json", ".txt", ".svg")):
            continue
        if "export" in rule.endpoint or rule.endpoint.startswith(("apidocs.", "api-docs")):
            continue
        if path.startswith("/staff") == staff:
            paths.append(path)
    return sorted(set(paths))


def _shape(path: str) -> str:
    return re.sub(r"/\d+(?=/|$)", "/<n>", path)


def _console(pg, errors: list[str]) -> None:
    pg.on(
        "console",
        lambda msg: errors.append(f"{pg.url}: {msg.text}")
        if msg.type == "error" and not msg.text.startswith(EXPECTED_CONSOLE_ERROR)
        else None,
    )
    pg.on("pageerror", lambda exc: errors.append(f"{pg.url}: {exc}"))


def _login(pg, email: str, password: str, otp: str | None = None) -> None:
    pg.goto("/auth/login")
    pg.fill("[name=email]", email)
    pg.fill("[name=password]", password)
    pg.click("#login-form [type=submit]")
    if otp is not None:
        pg.wait_for_url(re.compile(r"/staff/2fa"))
        pg.fill("[name=otp]", otp)
        pg.get_by_role("button", name="Verify").click()
        pg.wait_for_url(re.compile(r"/staff/$"))
    else:
        pg.wait_for_url(re.compile(r"/dashboard$"))


def walk(pg, paths: list[str], width: int, name: str, prefix: str) -> tuple[list[str], list[str]]:
    """Visit ``paths`` and the detail pages they link to; returns (pages visited, pages too wide or failing)."""
    seen_shapes = {_shape(p) for p in paths}
    queue = list(paths)
    visited, too_wide = [], []
    while queue:
        path = queue.pop(0)
        response = pg.goto(path)
        if response is None:
            continue
        if response.status >= 500:
            too_wide.append(f"{path}: answered {response.status}")
            continue
        if "text/html" not in (response.headers.get("content-type") or ""):
            continue
        pg.wait_for_load_state("load")
        visited.append(path)
        scroll, inner = pg.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
        if scroll > inner:
            # name the culprits: the widest elements that reach past the right edge
            wide = pg.evaluate(
                """() => [...document.querySelectorAll('body *')]
                .filter(e => e.getBoundingClientRect().right > window.innerWidth + 1)
                .filter(e => !e.closest('.table-wrap, .table-scroll'))
                .slice(0, 3).map(e => e.tagName.toLowerCase() + '.' + [...e.classList].join('.'))"""
            )
            too_wide.append(f"{path}: {scroll} px > {inner} px ({', '.join(wide)})")
            pg.screenshot(path=str(ARTIFACTS / f"wide-{width}-{name}-{_shape(path).strip('/').replace('/', '_')}.png"))
        for href in pg.eval_on_selector_all("a[href]", "els => els.map(e => e.getAttribute('href'))"):
            link = urlparse(href)
            if link.netloc or not link.path.startswith(prefix) or link.path.startswith(SKIP_PREFIXES):
                continue
            shape = _shape(link.path)
            if shape != link.path and shape not in seen_shapes and not link.path.endswith(".csv"):
                seen_shapes.add(shape)
                queue.append(link.path)
    return visited, too_wide


@pytest.fixture()
def demo(app, db):
    """The demo data of every domain (the same seed ``make run`` shows)."""
    from tradeapp.models import User
    from tradeapp.services.seed import seed_demo

    seed_demo()
    db.session.commit()
    assert db.session.scalar(select(User).where(User.email == DEMO_ADMIN["email"])) is not None
    db.session.rollback()  # on SQLite an open transaction holds the lock the server needs


@pytest.mark.parametrize("width", [390, 1400])
def test_every_page_fits_the_screen_without_console_errors(app, browser, live_server, demo, width, monkeypatch):
    from tests.conftest import totp_now

    monkeypatch.setitem(app.config, "EMBEDDED", True)  # the dev outbox page exists in embedded mode only
    ARTIFACTS.mkdir(exist_ok=True)
    errors: list[str] = []
    report: dict[str, list[str]] = {}
    too_wide: list[str] = []
    for name, staff in (("anonymous", False), ("customer", False), ("staff", True)):
        context = browser.new_context(base_url=live_server, viewport={"width": width, "height": 860})
        context.set_default_timeout(TIMEOUT_MS)
        pg = context.new_page()
        _console(pg, errors)
        if name == "customer":
            _login(pg, DEMO_CUSTOMER["email"], DEMO_CUSTOMER["password"])
        elif name == "staff":
            _login(pg, DEMO_ADMIN["email"], DEMO_ADMIN["password"], otp=totp_now(DEMO_ADMIN["totp_secret"]))
        visited, wide = walk(pg, page_routes(app, staff), width, name, "/staff" if staff else "/")
        report[name] = visited
        too_wide += [f"{name} {w}" for w in wide]
        pg.screenshot(path=str(ARTIFACTS / f"walk-{width}-{name}-last.png"), full_page=True)
        context.close()

    assert len(report["customer"]) >= 10 and len(report["staff"]) >= 10, report
    # the walk reached detail pages through the lists' links
    assert any(re.search(r"/staff/users/\d+", p) for p in report["staff"]), report["staff"]
    assert not too_wide, "pages wider than the screen or failing:\n" + "\n".join(too_wide)
    assert not errors, "console errors:\n" + "\n".join(errors)
