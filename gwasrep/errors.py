"""Errors a person can act on.

Every error gwasrep raises for bad input is a :class:`GwasrepError` (a
``ValueError``) whose message says what was expected and what was found. The
CLI prints it as one line on stderr and exits with status 2.
"""

from __future__ import annotations

__all__ = ["GwasrepError", "InputError", "ResumeError"]


class GwasrepError(ValueError):
    """Base class for errors caused by the user's input or parameters."""


class InputError(GwasrepError):
    """An input file or array is missing, malformed or inconsistent."""


class ResumeError(GwasrepError):
    """An unfinished run cannot be resumed (or would be silently discarded)."""


def preview(values, n: int = 5) -> str:
    """First ``n`` values, comma separated, with an ellipsis if there are more."""
    values = list(values)
    head = ", ".join(str(v) for v in values[:n])
    return head + (", ..." if len(values) > n else "")
