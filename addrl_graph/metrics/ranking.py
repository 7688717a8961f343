r"""Top-k ranking metrics of the Protocol (DESIGN.md), built on :mod:`torch_geometric.metrics`.

PyG's definitions, read in ``torch_geometric/metrics/link_pred.py`` (2.8), match the Protocol and
are used as they are:

- ``LinkPredRecall``: hits in the top k / number of held-out items of the user.
- ``LinkPredNDCG`` (unweighted): DCG with ``1 / log2(rank + 1)``, divided by the ideal DCG of
  ``min(k, number of held-out items)`` hits (``idcg[label_count.clamp(max=k)]``).
- ``LinkPredPrecision``: hits in the top k / k.
- ``LinkPredHitRatio``: 1 when the top k holds any held-out item.
- ``LinkPredMRR``: 1 / rank of the first held-out item in the top k, 0 when there is none.
- ``LinkPredMAP``: average precision, :math:`\sum_{r \le k} P@r \cdot rel_r` divided by
  ``min(k, number of held-out items)`` (the same cap as NDCG's ideal DCG).
- All six average over the users with at least one held-out item (``total`` counts
  ``label_count > 0``), and users without one add zero.

Only the authors' NDCG variant needs code of its own: :class:`LinkPredAuthorsNDCG`. The
beyond-accuracy metrics (:mod:`addrl_graph.metrics.beyond`) join the same collection.
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor
from torch_geometric.metrics import (
    LinkPredHitRatio,
    LinkPredMAP,
    LinkPredMetric,
    LinkPredMetricCollection,
    LinkPredNDCG,
    LinkPredMRR,
    LinkPredPrecision,
    LinkPredRecall,
)
from torch_geometric.metrics.link_pred import LinkPredMetricData, _LinkPredMetric

from addrl_graph.errors import ConfigError
from addrl_graph.metrics.beyond import BEYOND_ACCURACY, Catalogue, beyond_metric

#: The per-user metrics: each user's value, averaged over users with a held-out item.
METRICS = {'recall': LinkPredRecall, 'ndcg': LinkPredNDCG, 'precision': LinkPredPrecision,
           'hit': LinkPredHitRatio, 'mrr': LinkPredMRR, 'map': LinkPredMAP}
DEFAULT_METRICS = ('recall', 'ndcg', 'precision', 'hit')
ALL_METRICS = tuple(METRICS) + BEYOND_ACCURACY


class LinkPredAuthorsNDCG(LinkPredMetric):
    r"""NDCG @ :math:`k` as the AD-DRL authors' evaluator computes it (``ndcg_at_k`` in
    ``evaluator20_accelerate.py``): the ideal DCG sorts the *retrieved* relevance list, so it
    counts only the hits that were found,

    .. math::
        \mathrm{NDCG}_{authors}@k = \frac{\sum_{r \le k} rel_r / \log_2(r + 1)}
        {\sum_{r \le h} 1 / \log_2(r + 1)}, \quad h = \sum_{r \le k} rel_r,

    and 0 when :math:`h = 0`. It is never below the Protocol's NDCG and reaches 1 whenever the
    hits sit at the top of the list, however many held-out items were missed. Reported only for
    comparison with published numbers; model choices use the Protocol's metrics.

    Args:
        k (int): the number of top predictions to evaluate.
    """
    higher_is_better: bool = True
    weighted: bool = False

    def __init__(self, k: int) -> None:
        super().__init__(k)
        discount = torch.arange(2, k + 2, dtype=torch.get_default_dtype()).log2()
        self.discount: Tensor
        self.idcg: Tensor
        self.register_buffer('discount', discount, persistent=False)
        idcg = torch.cat([discount.new_zeros(1), (1.0 / discount).cumsum(0)])
        self.register_buffer('idcg', idcg, persistent=False)

    def _compute(self, data: LinkPredMetricData) -> Tensor:
        rel = data.pred_rel_mat[:, :self.k]
        dcg = (rel / self.discount[:rel.size(1)].view(1, -1)).sum(dim=-1)
        idcg = self.idcg[rel.sum(dim=-1)]
        return torch.where(idcg > 0, dcg / idcg.clamp(min=1e-12), torch.zeros_like(dcg))


def ranking_metrics(ks: Sequence[int] = (10, 20, 50), authors_ndcg: bool = False,
                    names: Sequence[str] = DEFAULT_METRICS,
                    catalogue: Catalogue | None = None) -> LinkPredMetricCollection:
    """The metrics ``names`` (of :data:`ALL_METRICS`) at every k, keyed ``'recall@20'`` etc.;
    with ``authors_ndcg`` also ``'authors_ndcg@k'`` (:class:`LinkPredAuthorsNDCG`). The
    beyond-accuracy ones (:data:`~addrl_graph.metrics.beyond.BEYOND_ACCURACY`) read
    ``catalogue``."""
    if not ks or any(int(k) <= 0 for k in ks):
        raise ConfigError(f'ks must be positive integers (got {tuple(ks)})')
    unknown = sorted(set(names) - set(ALL_METRICS))
    if unknown:
        raise ConfigError(f'metrics must be among {ALL_METRICS} (got {unknown})')
    beyond = [name for name in BEYOND_ACCURACY if name in names]
    if beyond and catalogue is None:
        raise ConfigError(f'{beyond} need the catalogue of the items (got None)')
    metrics: dict[str, _LinkPredMetric] = {}
    for k in sorted({int(k) for k in ks}):
        for name, cls in METRICS.items():
            if name in names:
                metrics[f'{name}@{k}'] = cls(k)
        if authors_ndcg:
            metrics[f'authors_ndcg@{k}'] = LinkPredAuthorsNDCG(k)
        for name in beyond:
            metrics[f'{name}@{k}'] = beyond_metric(name, k, catalogue)
    return LinkPredMetricCollection(metrics)
