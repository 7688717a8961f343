"""Per-user values of the ranking metrics, aligned with user ids, for paired tests over users
(:mod:`addrl_graph.metrics.significance`) and for saving beside a comparison.

Each value is what PyG's metric averages (``LinkPredMetric._compute``: one value per row of the
batch), so the mean over users of a per-user tensor is the figure :func:`~addrl_graph.metrics.
evaluate.evaluate` reports. Only the per-user metrics (``recall``, ``ndcg``, ``precision``,
``hit``, ``mrr``, ``map``, ``authors_ndcg``) have one; coverage, diversity and popularity are
figures of the whole evaluation.

Shapes legend: ``U_e`` evaluated users (those with a held-out item), ``B`` users of a batch.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor
from torch_geometric.metrics import LinkPredMetric, LinkPredMetricCollection
from torch_geometric.metrics.link_pred import LinkPredMetricData


@dataclass(frozen=True)
class UserMetrics:
    """Every evaluated user's metrics.

    Attributes:
        users: ``[U_e]`` long, ascending ids of the users with a held-out item.
        values: metric key (``'recall@20'``, …) → ``[U_e]`` float, row ``j`` for ``users[j]``.
    """
    users: Tensor
    values: dict[str, Tensor]

    def __getitem__(self, key: str) -> Tensor:
        return self.values[key]

    def to_dict(self) -> dict[str, Any]:
        """Tensors only, for ``torch.save`` (loads with ``weights_only=True``)."""
        return {'users': self.users, 'values': dict(self.values)}

    @classmethod
    def from_dict(cls, state: dict[str, Any]) -> 'UserMetrics':
        return cls(state['users'], dict(state['values']))

    @classmethod
    def cat(cls, metrics: LinkPredMetricCollection, users: Tensor,
            batches: list[dict[str, Tensor]]) -> 'UserMetrics':
        """Join the per-batch values of :func:`user_values` (batches in the order of
        ``users``); every per-user metric of ``metrics`` has a tensor, empty without users."""
        return cls(users.cpu(), {key: torch.cat([b[key] for b in batches] or [torch.zeros(0)])
                                 for key in per_user_keys(metrics)})


def per_user_keys(metrics: LinkPredMetricCollection) -> list[str]:
    """The keys of the metrics of ``metrics`` that have a value per user."""
    return [name for name, metric in metrics.items() if isinstance(metric, LinkPredMetric)]


def user_values(metrics: LinkPredMetricCollection, pred_index_mat: Tensor,
                edge_label_index: Tensor) -> dict[str, Tensor]:
    """Each row's value of every per-user metric of ``metrics``.

    Args:
        metrics: the collection the evaluation updates.
        pred_index_mat: ``[B, k]`` top items of every row.
        edge_label_index: ``[2, P]`` (row, held-out item) pairs.

    Returns:
        metric key → ``[B]`` float on the CPU.
    """
    data = LinkPredMetricData(pred_index_mat, edge_label_index)
    return {name: metrics[name]._compute(data).float().cpu() for name in per_user_keys(metrics)}
