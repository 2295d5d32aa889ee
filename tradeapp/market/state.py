"""The cached market state services read: last quote, last order book and feed status per pair.

A leaf: the feed runner publishes here (in this process, and under ``quote:<SYMBOL>``,
``book:<SYMBOL>``, ``feedstatus:<SYMBOL>`` in Redis when it is configured, so every process
can read them); prices, pairs and the pages read from here without importing the runner.
"""

import json

from flask import Flask, current_app

from tradeapp.queues import redis_connection

#: where a process's running feed keeps its last quotes (``app.extensions[EXTENSION_KEY]``)
EXTENSION_KEY = "tradeapp.feed"


def quote_key(symbol: str) -> str:
    return f"quote:{symbol}"


def book_key(symbol: str) -> str:
    return f"book:{symbol}"


def status_key(symbol: str) -> str:
    return f"feedstatus:{symbol}"


#: published prices outlive the feed by a day, so a dead feed shows as stale instead of vanishing
PUBLISHED_TTL = 86400


def redis_or_none(app: Flask):
    """The app's Redis client when Redis is configured, else None."""
    if not (app.config.get("REDIS_URL") or "tradeapp.redis" in app.extensions):
        return None
    return redis_connection()


def _published(symbol: str, attr: str, key: str) -> dict | None:
    runner = current_app.extensions.get(EXTENSION_KEY)
    if runner is not None and symbol in getattr(runner, attr):
        return getattr(runner, attr)[symbol]
    redis = redis_or_none(current_app)
    raw = redis.get(key) if redis is not None else None
    return json.loads(raw) if raw else None


def last_quote(symbol: str) -> dict | None:
    """The newest published quote for ``symbol`` (JSON-safe dict), from this process or Redis."""
    return _published(symbol, "quotes", quote_key(symbol))


def last_book(symbol: str) -> dict | None:
    """The newest published order book for ``symbol`` (JSON-safe dict), from this process or Redis."""
    return _published(symbol, "books", book_key(symbol))


def pair_status(symbol: str) -> dict | None:
    """``{failures, last_error}`` while the feed fails for ``symbol``; None when it is healthy."""
    return _published(symbol, "statuses", status_key(symbol))
