"""Errors raised for bad `$filter` / `$orderby` text; the HTTP layer maps them to 400."""

from __future__ import annotations


class FilterError(ValueError):
    """A syntax or validation error in a filter or orderby expression.

    `position` is the 0-based character offset in the expression where the problem was
    found; `message` is one line meant to be shown to the client as it is (it quotes only
    short fragments of the client's text, never the whole expression).
    """

    def __init__(self, message: str, position: int) -> None:
        super().__init__(message)
        self.message = message
        self.position = position

    def __reduce__(self) -> tuple[type[FilterError], tuple[str, int]]:
        # Keep the exception picklable (e.g. across worker processes) despite the extra arg.
        return (type(self), (self.message, self.position))


class FilterLimitError(FilterError):
    """The expression exceeds a size, depth or node-count limit (reliability.md §2.4)."""


def fragment(text: str, limit: int = 32) -> str:
    """Quote a piece of client text for an error message, shortened so messages stay one
    short line (a 1 MB literal must not come back in the 400 body)."""
    if len(text) > limit:
        text = text[:limit] + "..."
    # repr() escapes control characters and newlines, which keeps the message on one line.
    return repr(text)
