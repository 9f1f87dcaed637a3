"""Typed messages: workers post these, handlers render them."""

from __future__ import annotations

from textual.message import Message

from engine.api.models import Outcome


class Refreshed(Message):
    """A fresh view model fetched off the UI thread; a newer one supersedes a queued older one."""

    def __init__(self, vm: dict) -> None:
        super().__init__()
        self.vm = vm

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, Refreshed)


class MarketProgress(Message):
    """The simulator's throughput; floods coalesce to the latest."""

    def __init__(self, steps: int, commands: int, rate: float) -> None:
        super().__init__()
        self.steps = steps
        self.commands = commands
        self.rate = rate

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, MarketProgress)


class VenueEvent(Message):
    """The attached venue's event stream: ``events``, ``heartbeat``, ``down`` or ``up``."""

    def __init__(self, kind: str, payload: dict) -> None:
        super().__init__()
        self.kind = kind
        self.payload = payload


class CommandDone(Message):
    """An operator command came back from the node."""

    def __init__(self, label: str, outcome: Outcome, success: str = "") -> None:
        super().__init__()
        self.label = label
        self.outcome = outcome
        self.success = success
