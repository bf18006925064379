"""One helper shared by the plotting functions of savlib.experiments and savlib.meanfield."""
from __future__ import annotations

from pathlib import Path
from typing import Any


def finish(fig: Any, path: str | Path | None):
    """Lay out ``fig``; return it when ``path`` is None, else save it to ``path``, close it
    and return None (the convention of every ``plot_*`` function in savlib)."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    if path is None:
        return fig
    fig.savefig(path)
    plt.close(fig)
    return None
