"""Composition root of the console: a desk in process (frozen tests and screenshots, or
``PERPDESK_IN_PROCESS=1``), or a venue attached over its HTTP API (``--venue URL``, or the local
sandbox venue, started on first use and shared by every console on the same home).

The desk itself (node, simulated market, gateway, feed, price feeds, alerts) is the venue's:
``engine/venue/desk.py``; its helpers are re-exported here for tests and benches.
"""

from __future__ import annotations

import os

#: the desk helpers re-exported for tests and benches, loaded on first use (an attached console never
#: loads the engine: it talks to the venue through engine.api alone)
_DESK_NAMES = frozenset({"FROZEN_START_MS", "STEP_MS", "Desk", "SimClock", "build_desk", "leveraged_pairs",
                         "oracle_shock", "seed_feed", "live_leveraged_ladder"})


def __getattr__(name: str):
    if name in _DESK_NAMES:
        from engine.venue import desk

        return getattr(desk, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def make_app(seed: int = 7, frozen: bool = True, accounts: int = 200, *, db: str | None = None,
             operator: str | None = None, role: str | None = None, warmup_steps: int = 600,
             incident: bool = True, config=None, outside: dict | None = None, in_process: bool | None = None,
             venue_url: str | None = None, token: str | None = None, **app_kwargs):
    """The console on a node with a seeded simulated market.

    Frozen (tests, screenshots): everything in this process, in memory, on a fake clock. Live: attached to
    ``venue_url`` with ``token``, else to the local sandbox venue (``console/sandbox.py``: started as a
    ``perpdesk venue --sandbox`` child on a Unix socket unless one already runs for this database), unless
    ``in_process`` (or ``PERPDESK_IN_PROCESS=1``, or ``outside``): the desk then runs in this process.

    ``config``: an :class:`engine.settings.config.Config` (price feeds, alert sinks); ``outside``: keyword
    arguments for :func:`engine.venue.desk.attach_outside` (tests inject HTTP clients and the sleep
    function, which only works in process)."""
    from .app import PerpdeskApp

    # frozen desks (tests, screenshots) live in memory; the live console is durable by default
    # (--db, PERPDESK_DB, or the platformdirs data directory)
    db = db or os.environ.get("PERPDESK_DB") or ("memory" if frozen else None)
    if in_process is None:
        in_process = frozen or outside is not None or os.environ.get("PERPDESK_IN_PROCESS") == "1"
    if not in_process:
        from engine.api.client import VenueClient

        from . import sandbox

        if venue_url:
            client = VenueClient(venue_url, token)
        else:
            client = sandbox.attach_or_start(db=db, seed=seed, accounts=accounts, config_path=app_kwargs.pop(
                "config_path", None), speed=app_kwargs.pop("sim_speed", 1.0),
                steps_per_batch=app_kwargs.pop("sim_steps_per_batch", 1), incident=incident)
        app_kwargs.pop("sim_speed", None)
        app_kwargs.pop("sim_steps_per_batch", None)
        app_kwargs.pop("config_path", None)
        client.gateway.whoami()  # GatewayError when the venue refuses the token
        return PerpdeskApp(None, gateway=client.gateway, feed=client.feed, live=True, venue=client, **app_kwargs)
    app_kwargs.pop("config_path", None)
    from engine.venue.desk import build_desk

    desk = build_desk(seed, accounts, frozen=frozen, warmup_steps=warmup_steps, operator=operator,
                      role=role, db=db, incident=incident, config=config, outside=outside)
    return PerpdeskApp(desk.node, gateway=desk.gateway, feed=desk.feed, desk=desk, live=not frozen,
                       **app_kwargs)
