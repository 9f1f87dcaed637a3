"""The node's refusal: a code and a message (not an engine rejection)."""

from __future__ import annotations


class NodeError(Exception):
    """The node refused or could not take a command (not an engine rejection)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
