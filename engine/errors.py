"""The one base of every error perpdesk raises on purpose.

Every layer's own errors (the core's refusals, the store's failures, the node's, the API's,
a scenario file's...) derive from :class:`PerpdeskError`, so a caller at any boundary (the
command line, the venue's HTTP handlers, the console) can catch one class and always finds a
stable machine ``code`` and a ``message`` written for people. The module sits at the root of
the ``engine`` package, outside every layer, so the pure core and the independent
``engine.api`` can both import it (it imports nothing).
"""

from __future__ import annotations


class PerpdeskError(Exception):
    """An error with a stable ``code`` (class default, or given per instance) and a ``message``.

    Subclasses keep their own constructors (``CommandError(code, message)``,
    ``StoreLockedError(message)``...) and pass both on: ``super().__init__(message, code=code)``.
    ``str(err)`` is the message.
    """

    code: str = "error"

    def __init__(self, message: str = "", *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
