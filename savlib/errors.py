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


class HyperParameterError(ConfigError, TypeError):
    """A scheme's hyper-parameter is missing, of the wrong type or out of range (``lr < 0`` or
    NaN, ``C`` with ``I + C <= 0``, ``betas`` outside ``[0, 1)`` ...). Raised at construction,
    by ``add_param_group`` before the group is installed, and at the start of every step
    (schedulers change ``lr``), before anything moves. A ``ValueError`` and a ``TypeError``,
    so callers that caught either keep working."""


class EnergyDomainError(HyperParameterError):
    """The SAV energy ``r = sqrt(I + C)`` is undefined: the loss fell to ``I <= -C``. The
    remedy is a larger ``C``; the step leaves everything unchanged."""


class ClosureError(SavlibError, TypeError, ValueError):
    """The closure passed to ``step`` is missing, not callable, or returned something the
    scheme cannot use (not a scalar loss; for IEQ not a residual vector with its graph; no
    parameter received a gradient). The message says what to pass."""


class NonFiniteError(SavlibError, ValueError):
    """The loss, a gradient, a residual or the new iterate is NaN or infinite. The step
    raised before committing: parameters, optimizer state and diagnostics are unchanged.
    ``savlib.train.fit`` records this as divergence."""


class StateDictError(SavlibError, ValueError):
    """``load_state_dict`` was given the state of another scheme (or one missing the
    scheme's state); nothing is loaded."""


__all__ += ["HyperParameterError", "EnergyDomainError", "ClosureError", "NonFiniteError",
            "StateDictError"]
