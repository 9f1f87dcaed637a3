"""perpdesk's exchange engine: a pure, deterministic perp venue (no Textual, no I/O in the core)."""

from .commands import Command, CommandError, NotACommand, make, parse_command
from .core import Engine

__all__ = ["Engine", "Command", "CommandError", "NotACommand", "make", "parse_command"]
