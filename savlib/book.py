"""Helpers for the book's pages: the closing claims table and the no-kernel explorers.

Every chapter of the book ends with a table "What the paper claims / what we measured",
drawn by :func:`claims_table`, which also checks it (no empty cell, a known verdict, no
unrounded number); every widget explorer is followed by :func:`sweep`, the same picture
drawn at a few values of the explorer's main parameter and shown with a slider that works
on the static page, without a kernel.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from html import escape
from typing import Any

from .errors import ConfigError

__all__ = ["VERDICTS", "claims_table", "live", "sweep"]

#: The verdicts a claims table may give (the reproduction scorecard's).
VERDICTS = ("reproduced", "partly", "not reproduced", "not attempted")

# matplotlib's jshtml player draws its buttons with Font Awesome from a CDN; the book reads
# offline, so the buttons get plain Unicode symbols and the stylesheet link goes.
_CDN_LINK = re.compile(r'<link rel="stylesheet"\s+href="https://[^"]*font-awesome[^"]*">')
_ICONS = {"fa fa-minus": "\u2212", "fa fa-fast-backward": "\u23ee", "fa fa-step-backward": "\u25c0",
          "fa fa-play fa-flip-horizontal": "\u25c1", "fa fa-pause": "\u23f8", "fa fa-play": "\u25b7",
          "fa fa-step-forward": "\u25b6", "fa fa-fast-forward": "\u23ed", "fa fa-plus": "+"}
_ICON = re.compile(r'<i class="(fa [^"]+)"></i>')

# a float printed with all its digits ("0.8962000012397766") or a NumPy scalar repr
_UNROUNDED = re.compile(r"\d\.\d{7,}|np\.(float|int)\d*\(")


def _cells(row: Any) -> tuple[str, ...]:
    if hasattr(row, "claim") and hasattr(row, "measured"):        # a savlib.scorecard.Row
        claim = row.claim if row.claim.startswith(row.item) else f"{row.item}: {row.claim}"
        return (claim, row.measured, row.size, row.verdict)
    return tuple(str(c) for c in row)


def claims_table(rows: Sequence[Any], header: Sequence[str] | None = None):
    """A chapter's closing table "What the paper claims / what we measured", as rendered HTML.

    ``rows``: tuples of strings, one per claim, in the order of ``header`` (default
    ``("claim", "the paper", "what we measured")``, or with a fourth column ``"verdict"``),
    or ``savlib.scorecard.Row`` objects (shown as claim, measured, size, verdict).
    The table is checked before it is drawn: every row has one cell per column, no cell is
    empty, a verdict column holds one of :data:`VERDICTS`, and no number is printed unrounded
    (seven or more decimals, or the repr of a NumPy scalar). A failed check
    raises :class:`savlib.errors.ConfigError`, so a chapter cannot render a malformed table.
    """
    from IPython.display import HTML

    cells = [_cells(r) for r in rows]
    if not cells:
        raise ConfigError("claims_table: no rows")
    if header is None:
        if rows and hasattr(rows[0], "claim"):
            header = ("claim", "what we measured", "size", "verdict")
        else:
            header = ("claim", "the paper", "what we measured", "verdict")[:len(cells[0])]
    header = tuple(header)
    for i, row in enumerate(cells):
        if len(row) != len(header):
            raise ConfigError(f"claims_table: row {i} has {len(row)} cells, the header {len(header)}")
        for name, cell in zip(header, row):
            if not cell.strip():
                raise ConfigError(f"claims_table: row {i}, column {name!r} is empty")
            if _UNROUNDED.search(cell):
                raise ConfigError(f"claims_table: row {i}, column {name!r} prints an unrounded number: {cell!r}")
        if "verdict" in header and row[header.index("verdict")] not in VERDICTS:
            raise ConfigError(f"claims_table: row {i} has verdict {row[header.index('verdict')]!r}, "
                              f"not one of {VERDICTS}")
    head = "".join(f'<th class="col-{escape(h.replace(" ", "-"))}">{escape(h)}</th>' for h in header)
    body = "".join("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in row) + "</tr>" for row in cells)
    return HTML(f'<table class="savlib-claims"><thead><tr>{head}</tr></thead>'
                f"<tbody>{body}</tbody></table>")


def live() -> bool:
    """Whether a chapter builds its live widget explorer: ``False`` when the book is executed
    without a frontend (``make book`` and ``make test`` set ``SAVLIB_NO_WIDGETS=1``), where
    nobody can move a slider and executing widgets can stall the notebook client
    (jupyter/nbclient#312); the page shows the static figure and :func:`sweep` instead."""
    from .config import widgets_enabled

    return widgets_enabled()


def sweep(draw: Callable[[Any, Any], None], values: Sequence[Any], *, label: str,
          fmt: Callable[[Any], str] = "{:g}".format, figsize: tuple[float, float] = (6.4, 3.6),
          dpi: int = 80):
    """The no-kernel version of a widget explorer: ``draw(fig, value)`` for each of
    ``values`` (the explorer's main parameter), shown with a slider that runs in the
    browser without a kernel (matplotlib's ``to_jshtml``).

    ``draw`` draws one frame into the (cleared) figure it is given; the frame's title
    says ``label = value``. Returns an ``IPython.display.HTML`` object that loads nothing
    from the network (the player's buttons are Unicode symbols); its size grows with the
    number of frames (a few tens of kB each at the default ``dpi``).
    """
    import matplotlib.pyplot as plt
    from IPython.display import HTML
    from matplotlib.animation import FuncAnimation

    values = list(values)
    if not values:
        raise ConfigError("sweep: no values to sweep")
    fig = plt.figure(figsize=figsize, dpi=dpi)

    def frame(i: int):
        fig.clear()
        draw(fig, values[i])
        fig.suptitle(f"{label} = {fmt(values[i])}", fontsize=10)
        fig.tight_layout()
        return []

    anim = FuncAnimation(fig, frame, frames=len(values), repeat=False)
    html = anim.to_jshtml(fps=1, embed_frames=True, default_mode="once")
    plt.close(fig)
    html = _ICON.sub(lambda m: _ICONS.get(m.group(1), ""), _CDN_LINK.sub("", html))
    return HTML(html)
