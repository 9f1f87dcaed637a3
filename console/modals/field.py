"""A typed field of a :class:`~console.modals.confirm.ConfirmDialog`: an input (optionally checked as it
is typed), a choice, a checkbox, the required reason, or a typed confirmation word."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

#: a checker of a typed value: (the command's value, or None and the problem)
Check = Callable[[str], tuple[object, str]]

REASON_LABEL = "Reason (journaled, required):"
REASON_PLACEHOLDER = "why (journaled, required)"
REASON_MISSING = "a reason is required"


@dataclass(frozen=True)
class Field:
    """One field. ``kind``: ``input`` | ``select`` | ``checkbox`` | ``reason`` | ``word``.

    ``key`` names the value in the dialog's result (default: ``id``); ``missing`` is the problem when
    a required field is empty (a checkbox: not ticked); ``check`` turns typed text into the value or a
    problem; ``error_id`` gives the field its own error line beneath it (else the dialog's is used), where
    ``describe`` says what a good value means."""

    id: str
    label: str = ""
    kind: str = "input"
    key: str = ""
    placeholder: str = ""
    value: object = None
    options: tuple[tuple[str, str], ...] | None = None
    check: Check | None = None
    required: bool = True
    missing: str = "required"
    error_id: str | None = None
    word: str = ""
    #: what a good value means, shown under the field as it is typed (e.g. "starts 07:29 UTC, in 2h00m")
    describe: Callable[[object], str] | None = None

    @property
    def name(self) -> str:
        return self.key or self.id

    @staticmethod
    def reason(id: str = "confirm-reason", placeholder: str = REASON_PLACEHOLDER,
               label: str = REASON_LABEL) -> Field:
        """The required reason: typed by the operator, journaled, never filled with canned text."""
        return Field(id, label, kind="reason", key="reason", placeholder=placeholder, missing=REASON_MISSING)

    @staticmethod
    def confirm_word(word: str, id: str = "confirm-id") -> Field:
        """A typed confirmation: the operator types ``word`` exactly."""
        # (the placeholder says what to do, not the word itself: an empty field showing the word read as
        # already filled in)
        return Field(id, f"Type {word} to confirm:", kind="word", key="word",
                     placeholder=f"type {word} here", word=word, missing=f"type {word} exactly to confirm")
