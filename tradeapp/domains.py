"""What each domain registers about itself: staff sidebar links, live queue counters, CLI groups.

A domain package's ``init_app(app)`` registers its blueprints and calls :func:`add_nav`,
:func:`add_counter` and :func:`add_cli` here; ``create_app`` lists the domains once
(:data:`tradeapp.blueprints.DOMAINS`). Everything lives on ``app.extensions["tradeapp.domains"]``,
so two apps in one process (tests) never share a sidebar.

A counter names the model whose rows it counts: after any unit of work that changed such a row
commits, the counter's new value goes to the staff consoles (``queue_counters``), so services
never push counters themselves.
"""

from collections.abc import Callable
from dataclasses import dataclass, field

import click
from flask import Flask, current_app

from tradeapp.permissions import PERMISSIONS

EXTENSION_KEY = "tradeapp.domains"


@dataclass(frozen=True)
class NavEntry:
    """One sidebar link, shown to staff holding ``permission``."""

    section: str
    label: str
    endpoint: str
    permission: str
    #: name of a live counter; the page shows its value and Socket.IO updates it
    counter: str | None = None
    #: endpoint prefix that marks the link active; defaults to the endpoint
    prefix: str | None = None


@dataclass(frozen=True)
class Counter:
    """A live staff counter: ``count()`` is its value; it changes when rows of ``model`` change."""

    name: str
    count: Callable[[], int]
    model: type | None = None


@dataclass
class Registry:
    """The app's registered sidebar, counters and CLI groups."""

    nav: list[NavEntry] = field(default_factory=list)
    counters: dict[str, Counter] = field(default_factory=dict)
    #: counters by the model class whose changes move them
    by_model: dict[type, list[Counter]] = field(default_factory=dict)

    def counters_for(self, models) -> list[Counter]:
        found: dict[str, Counter] = {}
        for model in models:
            for counter in self.by_model.get(model, ()):
                found[counter.name] = counter
        return list(found.values())


def registry(app: Flask | None = None) -> Registry:
    """The registry of ``app`` (default: the current app), created on first use."""
    app = app or current_app
    return app.extensions.setdefault(EXTENSION_KEY, Registry())


def add_nav(
    app: Flask,
    section: str,
    label: str,
    endpoint: str,
    permission: str,
    counter: str | None = None,
    prefix: str | None = None,
) -> None:
    """Add a staff sidebar link (idempotent per endpoint)."""
    if permission not in PERMISSIONS:
        raise KeyError(f"unknown permission {permission!r}")
    nav = registry(app).nav
    entry = NavEntry(section, label, endpoint, permission, counter, prefix)
    for i, existing in enumerate(nav):
        if existing.endpoint == endpoint:
            nav[i] = entry
            return
    nav.append(entry)


def add_counter(app: Flask, name: str, count: Callable[[], int], model: type | None = None) -> None:
    """Register a live staff counter; with ``model``, it is pushed after commits that change that model."""
    reg = registry(app)
    counter = reg.counters[name] = Counter(name, count, model)
    if model is not None:
        reg.by_model.setdefault(model, []).append(counter)


def add_queue(
    app: Flask,
    section: str,
    label: str,
    endpoint: str,
    permission: str,
    *,
    counter: str,
    count: Callable[[], int],
    model: type,
    prefix: str | None = None,
) -> None:
    """A staff work queue: its sidebar link showing the live ``counter``, pushed when ``model`` rows change."""
    add_nav(app, section, label, endpoint, permission, counter=counter, prefix=prefix)
    add_counter(app, counter, count, model)


def add_cli(app: Flask, group: click.Command) -> None:
    """Register a domain's ``flask`` command (group)."""
    app.cli.add_command(group)
