"""The ``realtime`` process: the browsers' Socket.IO connections, held by one asyncio loop.

Run: ``python -m tradeapp.realtime_server`` (``make realtime``; Procfile ``realtime:``). It listens
on ``REALTIME_HOST:REALTIME_PORT`` (127.0.0.1:5001); the reverse proxy routes ``/socket.io/``
here and everything else to gunicorn (``deploy/nginx.conf``).

- python-socketio's ``AsyncServer`` under aiohttp: an idle browser costs a few kilobytes and no
  thread, so one process holds thousands of them.
- Its ``AsyncRedisManager`` listens on the channel Flask-SocketIO's message queue publishes to,
  so the web, worker and feed processes keep emitting with ``tradeapp.realtime``'s calls unchanged.
- A handshake is authenticated exactly as the in-process server does it: the app's
  :func:`tradeapp.sockets.connection_rooms` runs inside a Flask request context built from the
  handshake's headers (session cookie through the app's session interface and Flask-Login's
  user loader and session protection, or an access JWT in ``auth``), in a small thread pool
  because it reads the database. Same rooms (``user:<id>``, ``staff``, ``ticker:<symbol>``),
  same ``subscribe``/``unsubscribe`` events.
- Stateless apart from its sockets: run one per machine (or per core) behind the proxy; with
  the websocket transport (the browser's first choice) no stickiness is needed, the polling
  fallback needs the proxy to pin a client to one process (``ip_hash``).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
from concurrent.futures import ThreadPoolExecutor

import socketio
from aiohttp import web
from flask import Flask

from tradeapp.realtime import ticker_room
from tradeapp.sockets import connection_rooms, symbols_of

log = logging.getLogger(__name__)


def authenticate(app: Flask, environ: dict, auth) -> list[str]:
    """The rooms of a connecting socket (see :func:`connection_rooms`); runs in a worker thread."""
    environ = dict(environ)
    request = environ.pop("aiohttp.request", None)
    # The aiohttp driver reports every peer as 127.0.0.1; Flask-Login's session protection hashes
    # the client's address (X-Forwarded-For behind the proxy, else the peer) as the web did.
    if request is not None and request.remote:
        environ["REMOTE_ADDR"] = request.remote
    environ.pop("wsgi.input", None)
    with app.request_context(environ):
        return connection_rooms(auth)


def create_server(app: Flask) -> tuple[socketio.AsyncServer, web.Application]:
    """The Socket.IO server and the aiohttp application serving it at ``/socket.io/``."""
    manager = socketio.AsyncRedisManager(app.config["REDIS_URL"], channel=app.config["SOCKETIO_CHANNEL"])
    sio = socketio.AsyncServer(
        async_mode="aiohttp",
        client_manager=manager,
        cors_allowed_origins=None if app.config["EMBEDDED"] else [app.config["BASE_URL"]],
    )
    executor = ThreadPoolExecutor(max_workers=app.config["REALTIME_AUTH_THREADS"], thread_name_prefix="realtime-auth")

    @sio.event
    async def connect(sid, environ, auth=None):
        # ConnectionRefusedError (an invalid token) propagates: python-socketio refuses the socket.
        rooms = await asyncio.get_running_loop().run_in_executor(executor, authenticate, app, environ, auth)
        for room in rooms:
            await sio.enter_room(sid, room)
        return True

    @sio.event
    async def subscribe(sid, data):
        for symbol in symbols_of(data):
            await sio.enter_room(sid, ticker_room(symbol))
        return {"ok": True}

    @sio.event
    async def unsubscribe(sid, data):
        for symbol in symbols_of(data):
            await sio.leave_room(sid, ticker_room(symbol))
        return {"ok": True}

    aio = web.Application()
    sio.attach(aio)

    async def healthz(_request):
        # Every socket of the default namespace is in its ``None`` room.
        return web.json_response({"ok": True, "sockets": len(sio.manager.rooms.get("/", {}).get(None, {}))})

    aio.router.add_get("/healthz", healthz)

    async def shutdown(_aio):
        # Close every socket (browsers reconnect to another realtime process) and stop the
        # Redis listener, so that a deploy's SIGTERM ends the process promptly.
        await sio.shutdown()
        executor.shutdown(wait=False, cancel_futures=True)

    aio.on_shutdown.append(shutdown)
    return sio, aio


def main(argv: list[str] | None = None) -> None:
    from dotenv import load_dotenv

    load_dotenv()
    from tradeapp import create_app

    app = create_app()
    parser = argparse.ArgumentParser(description="tradeapp realtime process (Socket.IO)")
    parser.add_argument("--host", default=app.config["REALTIME_HOST"])
    parser.add_argument("--port", type=int, default=app.config["REALTIME_PORT"])
    args = parser.parse_args(argv)
    if not app.config["REDIS_URL"]:
        raise SystemExit("the realtime process needs REDIS_URL (embedded mode serves sockets from app.py)")
    _sio, aio = create_server(app)
    log.warning("realtime: Socket.IO on http://%s:%s/socket.io/", args.host, args.port)
    # The app's objects live as long as the process: keep them out of the garbage collector's
    # scans (a full collection over them stalls every socket's delivery).
    gc.freeze()
    web.run_app(
        aio, host=args.host, port=args.port, print=None, access_log=None, shutdown_timeout=5, loop=_event_loop()
    )


def _event_loop() -> asyncio.AbstractEventLoop:
    """uvloop's event loop where it is available (about twice the sends per CPU second), else asyncio's."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - Windows
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


if __name__ == "__main__":
    main()
