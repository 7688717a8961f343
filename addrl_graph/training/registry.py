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

from addrl_graph.loader.batch import TripletBatch
from addrl_graph.nn.config import ModelConfig
from addrl_graph.errors import ConfigError

Objective = Callable[[nn.Module, TripletBatch], tuple[Tensor, dict[str, float]]]
MODEL_NAMES = ('addrl', 'bpr-mf', 'lightgcn', 'vbpr')

#: Per-model defaults of the :class:`~addrl_graph.training.train.TrainConfig` fields left at
#: :obj:`None` (``lr``, ``num_neg``) and of the baselines' options
#: (:class:`~addrl_graph.nn.config.BaselineConfig`). Chosen by ``python -m addrl_graph tune`` on the
#: real Beauty 2014 half (validation Recall@20 only); ``bench/tune_defaults.py`` reproduces the
#: choice and the README gives the trial budget behind each (AD-DRL: 46 finished trials, the
#: best that keeps control; LightGCN 31, BPR-MF 31, VBPR 27: the best trial, lr and L2 kept to
#: two significant digits).
MODEL_DEFAULTS: dict[str, dict[str, Any]] = {
    'addrl': {'lr': 2.5e-3, 'num_neg': 8},
    'bpr-mf': {'lr': 1.1e-2, 'num_neg': 8, 'baseline': {'embedding_dim': 128, 'l2': 1.7e-2}},
    'lightgcn': {'lr': 6.2e-3, 'num_neg': 8,
                 'baseline': {'embedding_dim': 128, 'l2': 3.3e-4, 'num_layers': 2}},
    'vbpr': {'lr': 1e-2, 'num_neg': 4, 'baseline': {'embedding_dim': 128, 'l2': 9.7e-4}},
}


def build_model(name: str, data: HeteroData, meta: dict[str, Any],
                model_config: ModelConfig | None = None,
                baseline_options: dict[str, Any] | None = None) -> tuple[nn.Module, Objective]:
    """Instantiate model ``name`` for the graph and return it with its objective.

    Args:
        name: one of :data:`MODEL_NAMES`.
        model_config: AD-DRL configuration (``addrl`` only).
        baseline_options: keyword arguments of the baseline's ``from_graph``
            (e.g. ``embedding_dim``, ``l2``); :obj:`None` values are left out.
    """
    if name == 'addrl':
        from addrl_graph.nn.losses import addrl_loss
        from addrl_graph.nn.model import ADDRL
        model = ADDRL.from_graph(data, meta, (model_config or ModelConfig()).validate())
        return model, addrl_loss
    from addrl_graph.nn import baselines
    classes = {'bpr-mf': baselines.BPRMF, 'lightgcn': baselines.LightGCNRanker,
               'vbpr': baselines.VBPR}
    if name not in classes:
        raise ConfigError(f'--model must be one of {MODEL_NAMES} (got {name!r})')
    options = {k: v for k, v in (baseline_options or {}).items() if v is not None}
    model = classes[name].from_graph(data, meta, **options)
    return model, lambda m, batch: m.loss(batch)
