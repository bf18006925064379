"""Run-time configuration: quick mode, device, seeds and the notebook setup helper.

Everything that depends on the environment is read here and nowhere else:

* ``SAVLIB_QUICK`` -- ``1``/``true``/``yes`` shrinks problem sizes so every notebook of
  the book runs in seconds to a few minutes on 2 CPU cores (``make test`` sets it;
  ``make book`` leaves it to the caller).
* ``SAVLIB_DEVICE`` -- force a device (``cpu``, ``cuda``, ``cuda:1``, ``mps``); by
  default CUDA is used when present, else the CPU.
* ``SAVLIB_SEED`` -- a non-negative integer added to every seed savlib draws from
  (:func:`shift_seed`): the book's chapters, the problems' data, ``fit``'s batch order and
  the experiments all run on another seed without a code change. Unset means 0.
* ``RANK``, ``LOCAL_RANK``, ``WORLD_SIZE`` -- set by ``torchrun`` for every worker; read by
  :func:`launcher_env` (``python -m savlib.experiments`` uses ``LOCAL_RANK`` to give each
  process of a node its own GPU; book chapter "Training at scale").

The book's first code cell in every chapter is ``savlib.setup()`` (Chapter
"Training is a gradient flow" explains why).
"""
from __future__ import annotations

import os
import platform
import random
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
import torch

__all__ = ["quick", "pick", "get_device", "seed_offset", "shift_seed", "generator", "seed_everything", "setup",
           "SetupInfo", "launcher_env"]

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"", "0", "false", "no", "off"}

T = TypeVar("T")


def widgets_enabled() -> bool:
    """``False`` when ``SAVLIB_NO_WIDGETS=1`` (set by ``make book`` and ``make test``): the
    chapters then skip their live ipywidgets explorers (see :func:`savlib.book.live`)."""
    return os.environ.get("SAVLIB_NO_WIDGETS", "") != "1"


def quick() -> bool:
    """Return True when ``SAVLIB_QUICK`` asks for quick (CI-sized) runs.

    The variable is read on every call, so a test may set it with ``monkeypatch``.
    An unrecognised value raises ``ValueError`` rather than silently picking a mode.
    """
    raw = os.environ.get("SAVLIB_QUICK", "").strip().lower()
    if raw in _TRUE:
        return True
    if raw in _FALSE:
        return False
    raise ValueError(f"SAVLIB_QUICK={raw!r}: expected one of 1/0, true/false, yes/no, on/off")


def pick(quick_value: T, book_value: T) -> T:
    """Choose a size: ``quick_value`` in quick mode, ``book_value`` otherwise.

    This is the one switch every notebook and experiment uses for its sizes, e.g.
    ``steps = savlib.pick(50, 2000)``.
    """
    return quick_value if quick() else book_value


def get_device(device: str | torch.device | None = None) -> torch.device:
    """The device savlib computes on.

    Priority: the ``device`` argument, then ``SAVLIB_DEVICE``, then CUDA if available,
    else CPU. A requested CUDA device on a machine without CUDA raises a clear error.
    """
    name = device if device is not None else os.environ.get("SAVLIB_DEVICE", "").strip()
    if not name:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(name)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"device {str(dev)!r} requested but torch.cuda.is_available() is False")
    if dev.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise RuntimeError("device 'mps' requested but torch.backends.mps.is_available() is False")
    return dev


def launcher_env() -> dict[str, int] | None:
    """``{"rank", "local_rank", "world_size"}`` as set by ``torchrun`` (the variables
    ``RANK``, ``LOCAL_RANK``, ``WORLD_SIZE``), or ``None`` when they are not all set (not
    launched by a torch.distributed launcher). A non-integer value raises ``ValueError``.
    Book chapter "Training at scale"."""
    names = {"rank": "RANK", "local_rank": "LOCAL_RANK", "world_size": "WORLD_SIZE"}
    raw = {k: os.environ.get(v, "").strip() for k, v in names.items()}
    if not all(raw.values()):
        return None
    try:
        out = {k: int(v) for k, v in raw.items()}
    except ValueError:
        raise ValueError("torchrun variables must be integers, got "
                         + ", ".join(f"{names[k]}={v!r}" for k, v in raw.items())) from None
    if out["world_size"] < 1 or not 0 <= out["rank"] < out["world_size"] or out["local_rank"] < 0:
        raise ValueError(f"inconsistent torchrun variables: {out}")
    return out


def seed_offset() -> int:
    """The shift ``SAVLIB_SEED`` asks for (0 when unset): every seed savlib draws from is
    ``seed + seed_offset()``. Read on every call; a value that is not an integer >= 0 raises
    ``ValueError``."""
    raw = os.environ.get("SAVLIB_SEED", "").strip()
    if not raw:
        return 0
    try:
        k = int(raw)
    except ValueError:
        k = -1
    if k < 0:
        raise ValueError(f"SAVLIB_SEED={raw!r}: expected an integer >= 0")
    return k


def shift_seed(seed: int) -> int:
    """``seed + seed_offset()``, the seed savlib actually uses for a requested ``seed``."""
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    return seed + seed_offset()


def generator(seed: int, device: str | torch.device | None = None) -> torch.Generator:
    """A torch Generator (on ``device``, default CPU) seeded with :func:`shift_seed` of ``seed``:
    the one way savlib's problems, samplers and experiments draw random numbers."""
    g = torch.Generator(device=device) if device is not None else torch.Generator()
    return g.manual_seed(shift_seed(seed))


def seed_everything(seed: int = 0) -> torch.Generator:
    """Seed Python's ``random``, NumPy and torch (all devices) with :func:`shift_seed` of
    ``seed``; return a torch Generator seeded the same way for code that wants its own stream.
    Chapters seed through this function (never bare ``torch.manual_seed``), so that
    ``SAVLIB_SEED`` moves them to another seed."""
    s = shift_seed(seed)
    random.seed(s)
    np.random.seed(s % 2**32)
    torch.manual_seed(s)
    return torch.Generator().manual_seed(s)


@dataclass(frozen=True)
class SetupInfo:
    """What :func:`setup` chose; printed by the first cell of every chapter. ``seed`` is the
    seed in use, i.e. the requested one shifted by ``SAVLIB_SEED``."""

    device: torch.device
    seed: int
    quick: bool
    dtype: torch.dtype
    versions: dict[str, str]

    def __str__(self) -> str:
        v = ", ".join(f"{k} {val}" for k, val in self.versions.items())
        mode = "quick (SAVLIB_QUICK=1)" if self.quick else "book"
        return f"device={self.device}  seed={self.seed}  mode={mode}  dtype={self.dtype}\n{v}"


def setup(seed: int = 0, dtype: torch.dtype = torch.float32, device: str | None = None,
          verbose: bool = True) -> SetupInfo:
    """The one setup helper every chapter calls first.

    Seeds everything, picks the device, sets torch's default dtype, asks matplotlib
    for PNG figures (nbval and the HTML build both handle PNG reliably), and prints
    versions, device and mode.
    """
    seed_everything(seed)
    seed = shift_seed(seed)
    dev = get_device(device)
    torch.set_default_dtype(dtype)
    _png_figures()
    versions: dict[str, Any] = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": np.__version__,
    }
    from . import __version__

    versions["savlib"] = __version__
    info = SetupInfo(device=dev, seed=seed, quick=quick(), dtype=dtype,
                     versions={k: str(v) for k, v in versions.items()})
    if verbose:
        print(info)
    return info


def _png_figures() -> None:
    try:
        import matplotlib

        matplotlib.rcParams["figure.dpi"] = 100
        matplotlib.rcParams["savefig.dpi"] = 100
        from IPython import get_ipython

        if get_ipython() is not None:
            from matplotlib_inline.backend_inline import set_matplotlib_formats

            set_matplotlib_formats("png")
    except ImportError:  # matplotlib/IPython are optional for the library itself
        pass
