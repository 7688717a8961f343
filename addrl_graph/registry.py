"""The models the harness can train, each with its builder and its training objective.

Every model is a ranker for :func:`addrl_graph.evaluate.evaluate` (``item_table``,
``user_table``, ``chunk_activation``); the objective maps ``(model, batch)`` to
``(loss, terms)`` so the trainer knows nothing about any model.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch import Tensor, nn
from torch_geometric.data import HeteroData

from addrl_graph.batch import TripletBatch
from addrl_graph.config import ModelConfig
from addrl_graph.errors import ConfigError

Objective = Callable[[nn.Module, TripletBatch], tuple[Tensor, dict[str, float]]]
MODEL_NAMES = ('addrl', 'bpr-mf', 'lightgcn', 'vbpr')


def build_model(name: str, data: HeteroData, meta: dict[str, Any],
                model_config: ModelConfig | None = None,
                baseline_options: dict[str, Any] | None = None) -> tuple[nn.Module, Objective]:
    """Instantiate model ``name`` for the graph and return it with its objective.

    Args:
        name: one of :data:`MODEL_NAMES`.
        model_config: AD-DRL configuration (``addrl`` only).
        baseline_options: keyword arguments of the baseline's ``from_graph``
            (e.g. ``embedding_dim``, ``l2``).
    """
    if name == 'addrl':
        from addrl_graph.losses import addrl_loss
        from addrl_graph.model import ADDRL
        model = ADDRL.from_graph(data, meta, (model_config or ModelConfig()).validate())
        return model, addrl_loss
    from addrl_graph import baselines
    classes = {'bpr-mf': baselines.BPRMF, 'lightgcn': baselines.LightGCNRanker,
               'vbpr': baselines.VBPR}
    if name not in classes:
        raise ConfigError(f'--model must be one of {MODEL_NAMES} (got {name!r})')
    model = classes[name].from_graph(data, meta, **(baseline_options or {}))
    return model, lambda m, batch: m.loss(batch)
