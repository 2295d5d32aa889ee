"""Browser tests: the app on a live server in a thread, driven by Playwright with Debian's Chromium.

Chromium comes from the system (``apt-get install chromium``), never from ``playwright install``.
Without it the tests are skipped locally and fail under CI=true.
"""

import os
import re
import socket
import threading
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
#: what a browser logs for a form answered 422 with its errors: expected
EXPECTED_CONSOLE_ERROR = "Failed to load resource: the server responded with a status of 422"
#: generous for slow CI machines; assertions wait for the page, never sleep
TIMEOUT_MS = 20_000


def _free_port() -> int:
    """Any free port, or the first free one of ``E2E_PORTS`` (e.g. ``6200-6299``) on a shared machine."""
    low, _, high = os.environ.get("E2E_PORTS", "").partition("-")
    candidates = range(int(low), int(high or low) + 1) if low else [0]
    for port in candidates:
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return s.getsockname()[1]
    raise RuntimeError(f"no free port in E2E_PORTS={os.environ['E2E_PORTS']}")


def _socket_server(app):
    """The Socket.IO server that ``app``'s WSGI middleware serves.

    Tests that build a second app rebind the shared ``socketio.server``; the live server must
    keep talking to the one its browsers are connected to.
    """
    return app.wsgi_app.engineio_app


@pytest.fixture(scope="session")
def live_server(app):
    """Base URL of the test app served by Werkzeug's threaded server (Socket.IO included)."""
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", _free_port(), app, threaded=True)
    base_url = f"http://127.0.0.1:{server.server_port}"
    # On PostgreSQL the test app runs in production mode, where Socket.IO accepts only BASE_URL's origin.
    eio = _socket_server(app).eio
    allowed = eio.cors_allowed_origins
    if isinstance(allowed, list):
        eio.cors_allowed_origins = [*allowed, base_url]
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    yield base_url
    server.shutdown()
    thread.join(timeout=10)
    eio.cors_allowed_origins = allowed


@pytest.fixture(scope="session")
def browser():
    reason = None
    if not Path(CHROMIUM).exists():
        reason = f"{CHROMIUM} not found (apt-get install chromium)"
    else:
        try:
            from playwright.sync_api import sync_playwright
        except ImportError:
            reason = "playwright is not installed (pip install -r requirements-dev.txt)"
    if reason:
        if os.environ.get("CI") == "true":
            pytest.fail(f"browser tests cannot run under CI: {reason}")
        pytest.skip(reason)

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-background-networking", "--disable-gpu"],
        )
        yield chromium
        chromium.close()


@pytest.fixture()
def page(app, browser, live_server, db, request, monkeypatch):
    """A fresh browser context (own cookies) whose ``shot(name)`` saves a screenshot to test-artifacts/."""
    from playwright.sync_api import expect

    from tradeapp.extensions import socketio

    server = _socket_server(app)
    monkeypatch.setattr(socketio, "server", server)  # emits go where the browsers are
    # socketio.test_client() (other tests) reroutes the server's outgoing packets into its own
    # queues and leaves them so; give the real transport back to the browser.
    for attr in ("_send_packet", "_send_eio_packet"):
        vars(server).pop(attr, None)
    expect.set_options(timeout=TIMEOUT_MS)
    context = browser.new_context(base_url=live_server, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    pg = context.new_page()
    # A CSP violation or a script error is a bug even when the page still looks right.
    # A 422 is the app's answer to a form with errors (HTMX swaps it in), not a fault.
    console_errors: list[str] = []
    pg.on(
        "console",
        lambda msg: console_errors.append(f"{msg.text} at {msg.location.get('url')}:{msg.location.get('lineNumber')}")
        if msg.type == "error" and not msg.text.startswith(EXPECTED_CONSOLE_ERROR)
        else None,
    )
    pg.on("pageerror", lambda exc: console_errors.append(str(exc)))
    ARTIFACTS.mkdir(exist_ok=True)
    test_name = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")
    step = {"n": 0}

    def shot(name: str) -> None:
        step["n"] += 1
        pg.screenshot(path=str(ARTIFACTS / f"{test_name}-{step['n']:02d}-{name}.png"), full_page=True)

    pg.shot = shot
    pg.console_errors = console_errors
    yield pg
    context.close()
    assert not console_errors, "console errors in the browser:\n" + "\n".join(console_errors)
