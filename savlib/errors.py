"""The exception types savlib raises for conditions a caller may want to catch.

Callers catch these types, never message text. Each subclasses the built-in type that code
written before it existed would have caught (``ValueError``, ``OSError``), so
``except ValueError`` keeps working.
"""
from __future__ import annotations

__all__ = ["SavlibError", "ConfigError", "CheckpointError", "ResultError"]


class SavlibError(Exception):
    """Base class of savlib's own exceptions."""


class ConfigError(SavlibError, ValueError):
    """An experiment or run was asked for with parameters it does not have or cannot take
    (unknown experiment, unknown or ill-typed ``--set`` key, a partial result made with
    another configuration). Raised before any work starts."""


class CheckpointError(SavlibError, OSError):
    """A training checkpoint cannot be used: unreadable or truncated file, not a savlib
    checkpoint, another format version, or made for another optimizer class or model shape.
    The message names the file and what is wrong; nothing has been loaded."""


class ResultError(SavlibError, OSError):
    """A stored result cannot be read or written: missing file, unreadable JSON, an output
    directory that is not writable. The message names the file."""
