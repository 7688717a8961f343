"""Matplotlib without a display (the ``Agg`` backend) and one way to write a figure, shared by
the explanation plots and the tuning history."""
from __future__ import annotations

import logging
from pathlib import Path

log = logging.getLogger(__name__)


def pyplot():
    """``matplotlib.pyplot`` on the ``Agg`` backend (imported on first use)."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    return plt


def save_figure(fig, path: str | Path) -> Path:
    """Write ``fig`` to ``path`` (folders created) and close it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, bbox_inches='tight')
    pyplot().close(fig)
    log.info('wrote %s', path)
    return path
