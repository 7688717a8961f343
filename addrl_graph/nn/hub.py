"""``model.save_pretrained(dir, graph, meta)`` and ``ADDRL.from_pretrained(dir)``: Hugging
Face's method names on every model of the library, delegating to
:class:`~addrl_graph.nn.pretrained.Pretrained` (which holds the format).

A model does not own its graph (STYLE), so saving takes the graph it was trained on and that
graph's ``meta.json`` (the id maps travel in the folder), and loading returns the
:class:`~addrl_graph.nn.pretrained.Pretrained` holder: ``.model`` and ``.id_maps``.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from addrl_graph.data.train_graph import TrainGraph
from addrl_graph.errors import CheckpointError

if TYPE_CHECKING:
    from addrl_graph.nn.pretrained import Pretrained


class HubMixin:
    """``save_pretrained`` / ``from_pretrained`` for a model class."""

    def save_pretrained(self, directory: str | Path, graph: TrainGraph, meta: dict[str, Any],
                        options: dict[str, Any] | None = None) -> Path:
        """Write this model, trained on ``graph`` (of ``meta``), as a pretrained folder.

        Args:
            options: a baseline's options (a run's ``config.json`` ``train.baseline``);
                AD-DRL takes its own config.
        """
        from addrl_graph.nn.pretrained import Pretrained  # it imports the model classes
        return Pretrained.from_model(self, graph, meta, options).save_pretrained(directory)

    @classmethod
    def from_pretrained(cls, directory: str | Path,
                        map_location: str | torch.device = 'cpu') -> 'Pretrained':
        """Load a pretrained folder written for this class (``eval`` mode).

        Raises:
            CheckpointError: the folder's checks fail, or it holds another model class.
        """
        from addrl_graph.nn.pretrained import Pretrained
        loaded = Pretrained.from_pretrained(directory, map_location)
        if not isinstance(loaded.model, cls):
            found = type(loaded.model).__name__
            raise CheckpointError(f'{directory} was saved from {found}, not {cls.__name__}: '
                                  f'load it with {found}.from_pretrained or '
                                  'Pretrained.from_pretrained')
        return loaded
