"""The market feed loop: every FEED_INTERVAL seconds, one quote per active pair, pushed to browsers.

It runs as its own process in production (``flask --app wsgi feed run``, emitting through the
Socket.IO Redis message queue) and as a background task of ``python app.py`` in embedded mode.
The last quote per pair is kept in memory and, when Redis is configured, under ``quote:<SYMBOL>``
so any process can read it (:mod:`tradeapp.market.state`). A failing pair is logged and retried
with back-off; the loop itself never dies. What a tick sets off beyond prices (the trigger check,
stored candles) is the app's :class:`FeedHooks`, supplied by ``tradeapp.jobs.feed``: the feed is
a leaf and imports neither services nor jobs.
"""

import json
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from flask import Flask, current_app, has_app_context
from sqlalchemy import select

from tradeapp import realtime
from tradeapp.extensions import db, socketio
from tradeapp.market.base import MarketFeed, PairSpec, json_safe
from tradeapp.market.state import (  # noqa: F401 - readers of the published state import them from here too
    EXTENSION_KEY,
    PUBLISHED_TTL,
    book_key,
    last_book,
    last_quote,
    pair_status,
    quote_key,
    redis_or_none,
    status_key,
)
from tradeapp.models import TradingPair

log = logging.getLogger(__name__)

#: longest pause before retrying a failing pair, in seconds
MAX_BACKOFF = 60.0
#: the app's feed hooks (``app.extensions[HOOKS_KEY]``), see :func:`set_hooks`
HOOKS_KEY = "tradeapp.feed_hooks"
#: order book levels published per side
BOOK_DEPTH = 20
#: seconds between refreshes of a pair's stored candles
CANDLE_SYNC_SECONDS = 60.0


@dataclass(frozen=True)
class FeedHooks:
    """What the rest of the app does with the feed; supplied by the jobs side (``tradeapp.jobs.feed``).

    ``on_tick(symbol)`` runs after each published quote (it schedules the trigger check);
    ``sync_candles(pair, feed, backfill)`` stores a pair's latest bars.
    """

    on_tick: Callable[[str], object] | None = None
    sync_candles: Callable[[TradingPair, MarketFeed, bool], object] | None = None


def set_hooks(app: Flask, hooks: FeedHooks) -> None:
    """Give every FeedRunner of ``app`` these hooks (unless it is built with its own)."""
    app.extensions[HOOKS_KEY] = hooks


def build_feed(app: Flask) -> MarketFeed:
    """The feed named by MARKET_FEED: ``simulated`` (default) or ``ccxt``."""
    name = app.config["MARKET_FEED"]
    # Each feed is imported when chosen: ccxt takes seconds to import, the simulated feed loads its data.
    if name == "simulated":
        from tradeapp.market.simulated import SimulatedFeed

        return SimulatedFeed(seed=app.config["FEED_SEED"])
    if name == "ccxt":
        from tradeapp.market.ccxt_feed import CcxtFeed

        return CcxtFeed(
            routes=lambda: feed_routes(app),
            timeout_ms=int(_setting(app, "CCXT_TIMEOUT_MS", "10000")),
            credentials=_ccxt_credentials(app),
        )
    raise ValueError(f"unknown MARKET_FEED {name!r}")


def _setting(app: Flask, name: str, default: str = "") -> str:
    """A setting from the app config, else the environment (for feed-only settings)."""
    value = app.config.get(name)
    return str(value) if value not in (None, "") else os.environ.get(name, default)


def feed_routes(app: Flask) -> dict[str, tuple[str, str]]:
    """Our symbol → (ccxt exchange id, exchange symbol) for every pair routed to a real exchange.

    Pairs whose ``feed_exchange`` is empty or ``simulated`` (or lack a ``feed_symbol``) get no route:
    the ccxt feed reports them as unknown symbols.
    """
    if not (has_app_context() and current_app._get_current_object() is app):
        with app.app_context():
            return feed_routes(app)
    rows = db.session.execute(select(TradingPair.symbol, TradingPair.feed_exchange, TradingPair.feed_symbol))
    return {
        symbol: (exchange.strip().lower(), feed_symbol.strip())
        for symbol, exchange, feed_symbol in rows
        if exchange and exchange.strip().lower() != "simulated" and feed_symbol and feed_symbol.strip()
    }


def _ccxt_credentials(app: Flask) -> dict[str, dict[str, str]]:
    """Optional API keys per exchange: CCXT_<EXCHANGE>_API_KEY / _SECRET (public data needs none)."""
    credentials: dict[str, dict[str, str]] = {}
    prefix = "CCXT_"
    for key in set(os.environ) | {k for k in app.config if isinstance(k, str)}:
        if key.startswith(prefix) and key.endswith("_API_KEY"):
            exchange = key[len(prefix) : -len("_API_KEY")].lower()
            api_key = _setting(app, key)
            if exchange and api_key:
                credentials[exchange] = {
                    "apiKey": api_key,
                    "secret": _setting(app, f"{prefix}{exchange.upper()}_SECRET"),
                }
    return credentials


class FeedRunner:
    """Polls a feed for every active pair and publishes the quotes."""

    def __init__(
        self,
        app: Flask,
        feed: MarketFeed | None = None,
        interval: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        hooks: FeedHooks | None = None,
    ) -> None:
        self.app = app
        self.hooks = hooks or app.extensions.get(HOOKS_KEY) or FeedHooks()
        self.feed = feed or build_feed(app)
        self.interval = float(app.config["FEED_INTERVAL"] if interval is None else interval)
        self.clock = clock
        self.stop_event = threading.Event()
        #: last published quote and order book per symbol, and the failing symbols' status
        self.quotes: dict[str, dict] = {}
        self.books: dict[str, dict] = {}
        self.statuses: dict[str, dict] = {}
        #: consecutive failures per symbol, and when to try it again (``clock`` time)
        self.failures: dict[str, int] = {}
        self.retry_at: dict[str, float] = {}
        #: consecutive candle-storing failures per symbol (feed health counts them beside the quotes')
        self.candle_failures: dict[str, int] = {}
        #: when each pair's stored candles were last refreshed (``clock`` time)
        self.candles_synced: dict[str, float] = {}
        self.thread = None

    def active_pairs(self) -> list[PairSpec]:
        pairs = db.session.scalars(select(TradingPair).where(TradingPair.is_active).order_by(TradingPair.symbol))
        return [PairSpec.from_model(p) for p in pairs]

    def tick_once(self) -> dict[str, dict]:
        """Publish one quote per active pair not in back-off; returns what was published."""
        published: dict[str, dict] = {}
        with self.app.app_context():
            pairs = self.active_pairs()
            self.feed.set_pairs(pairs)
            redis = redis_or_none(self.app)
            now = self.clock()
            for spec in pairs:
                if self.retry_at.get(spec.symbol, now) > now:
                    continue
                try:
                    quote = json_safe(self.feed.ticker(spec.symbol))
                    book = json_safe(self.feed.order_book(spec.symbol, BOOK_DEPTH))
                except Exception as exc:  # noqa: BLE001 - one bad pair must not stop the others
                    self._failed(spec.symbol, now, exc, redis)
                    continue
                self._publish(spec.symbol, quote, book, redis)
                self.failures.pop(spec.symbol, None)
                self._quote_healthy(spec.symbol)
                self.retry_at.pop(spec.symbol, None)
                published[spec.symbol] = quote
                self._check_orders(spec.symbol)
        return published

    def sync_candles(self) -> list[str]:
        """Store the latest bars of healthy pairs, once a minute each (a backfill the first time)."""
        now = self.clock()
        synced = []
        if self.hooks.sync_candles is None:
            return synced
        with self.app.app_context():
            due = [
                symbol
                for symbol in self.quotes
                if symbol not in self.failures
                and now - self.candles_synced.get(symbol, -CANDLE_SYNC_SECONDS) >= CANDLE_SYNC_SECONDS
            ]
            if not due:
                return synced
            for pair in db.session.scalars(select(TradingPair).where(TradingPair.symbol.in_(due))).all():
                if self.stop_event.is_set():
                    break  # a backfill is slow: stopping the feed does not wait for every pair's
                try:
                    self.hooks.sync_candles(pair, self.feed, pair.symbol not in self.candles_synced)
                    synced.append(pair.symbol)
                except Exception as exc:  # noqa: BLE001 - charts fall back to the feed; retried next minute
                    log.exception("feed: storing candles of %s failed", pair.symbol)
                    self._candles_failed(pair.symbol, exc)
                else:
                    if self.candle_failures.pop(pair.symbol, None):
                        self._record_status(pair.symbol, redis_or_none(self.app))
                self.candles_synced[pair.symbol] = now
        return synced

    def _publish(self, symbol: str, quote: dict, book: dict, redis) -> None:
        quote["received_at"] = book["received_at"] = time.time()
        self.quotes[symbol] = quote
        self.books[symbol] = book
        if redis is not None:
            pipe = redis.pipeline(transaction=False)
            pipe.set(quote_key(symbol), json.dumps(quote), ex=PUBLISHED_TTL)
            pipe.set(book_key(symbol), json.dumps(book), ex=PUBLISHED_TTL)
            # healthy again (also clears a failure left by an earlier feed process)
            status = self.statuses.get(symbol)
            if status and status.get("candle_failures"):
                status = {k: v for k, v in status.items() if k not in ("failures", "last_error")}
                pipe.set(status_key(symbol), json.dumps(status), ex=PUBLISHED_TTL)
            else:
                pipe.delete(status_key(symbol))
            pipe.execute()
        realtime.emit_ticker(symbol, quote)
        realtime.emit_orderbook(symbol, book)

    def _check_orders(self, symbol: str) -> None:
        """Hand the tick to the ``on_tick`` hook (the jobs side schedules the pair's trigger check)."""
        if self.hooks.on_tick is None:
            return
        try:
            self.hooks.on_tick(symbol)
        except Exception:  # noqa: BLE001 - the next tick schedules it again
            log.exception("feed: could not schedule the order check of %s", symbol)

    def _quote_healthy(self, symbol: str) -> None:
        """Quotes flow again: drop the quote failure, keep a candle failure still unresolved."""
        status = self.statuses.get(symbol)
        if status is None:
            return
        kept = {k: v for k, v in status.items() if k not in ("failures", "last_error")}
        if kept.get("candle_failures"):
            self.statuses[symbol] = kept
        else:
            self.statuses.pop(symbol, None)

    def _record_status(self, symbol: str, redis) -> None:
        """Publish ``symbol``'s status (quote and candle failures), or clear it when both are healthy."""
        status = self.statuses.get(symbol) or {}
        if not self.candle_failures.get(symbol):
            status = {k: v for k, v in status.items() if k not in ("candle_failures", "last_candle_error")}
        if status:
            self.statuses[symbol] = status
        else:
            self.statuses.pop(symbol, None)
        if redis is None:
            return
        try:
            if status:
                redis.set(status_key(symbol), json.dumps(status), ex=PUBLISHED_TTL)
            else:
                redis.delete(status_key(symbol))
        except Exception:  # noqa: BLE001
            log.warning("feed: could not record the status of %s", symbol)

    def _candles_failed(self, symbol: str, exc: Exception) -> None:
        """Storing candles failed: counted in the feed's health (quotes keep flowing, trading goes on)."""
        count = self.candle_failures[symbol] = self.candle_failures.get(symbol, 0) + 1
        status = dict(self.statuses.get(symbol) or {})
        status.update(candle_failures=count, last_candle_error=f"{type(exc).__name__}: {exc}"[:200])
        self.statuses[symbol] = status
        self._record_status(symbol, redis_or_none(self.app))

    def _failed(self, symbol: str, now: float, exc: Exception, redis) -> None:
        count = self.failures[symbol] = self.failures.get(symbol, 0) + 1
        delay = min(MAX_BACKOFF, self.interval * 2**count)
        self.retry_at[symbol] = now + delay
        status = dict(self.statuses.get(symbol) or {})
        status.update(failures=count, last_error=f"{type(exc).__name__}: {exc}"[:200])
        self.statuses[symbol] = status
        self._record_status(symbol, redis)
        log.error("feed: %s failed (%d in a row): %s; retrying in %.0f s", symbol, count, exc, delay)

    def run(self) -> None:
        """Tick until ``stop()``; errors are logged, never fatal."""
        log.info("feed %s started: every %.1f s", self.feed.name, self.interval)
        while not self.stop_event.is_set():
            try:
                self.tick_once()
                self.sync_candles()
            except Exception:  # noqa: BLE001 - e.g. the database is briefly unreachable
                log.exception("feed tick failed")
            self.stop_event.wait(self.interval)
        log.info("feed stopped")

    def stop(self) -> None:
        self.stop_event.set()


def start_embedded_feed(app: Flask) -> FeedRunner:
    """Run the feed as a Socket.IO background task of this process (once per app)."""
    runner = app.extensions.get(EXTENSION_KEY)
    if runner is None:
        runner = app.extensions[EXTENSION_KEY] = FeedRunner(app)
        runner.thread = socketio.start_background_task(runner.run)
    return runner
