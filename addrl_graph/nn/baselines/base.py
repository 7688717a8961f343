r"""What the comparison models share: the objective and the ranking tables of a dot product.

Every baseline scores with ``chunk_activation = 'identity'``: its :meth:`DotRanker.tables` cut
the score vectors into :attr:`DotRanker.score_chunks` equal chunks (one, or a disentangled
model's factors), ``[U, K, D / K]`` and ``[I, K, D / K]``, and the score is the dot product
of the whole vectors. Every baseline trains on the same objective,

.. math::
    \mathcal{L} = \frac{1}{B} \sum_{b} \frac{1}{N} \sum_{n}
    -\log \sigma\big(s(u_b, i^+_b) - s(u_b, i^-_{b,n})\big)
    + \lambda \frac{1}{2B} \sum_{e} \lVert e \rVert_2^2,

BPR over every negative (averaged over the batch) plus L2 on the embeddings the batch touches,
counted once per occurrence (users, positives, each negative), in the form of
:func:`addrl_graph.nn.losses.l2_loss`, plus the weighted terms a model adds in
:meth:`DotRanker.auxiliary_terms` (none for most).

Shapes legend: ``U`` users, ``I`` items, ``B`` batch, ``M`` unique items in a batch, ``N``
negatives per positive, ``D`` width of the score vector.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from addrl_graph.data.train_graph import TrainGraph
from addrl_graph.errors import ConfigError
from addrl_graph.loader.batch import TripletBatch
from addrl_graph.nn.hub import HubMixin
from addrl_graph.nn.losses import bpr_loss, l2_loss
from addrl_graph.nn.scoring import ChunkTables


def check_sizes(num_users: int, num_items: int, **dims: int) -> None:
    for name, value in dict(num_users=num_users, num_items=num_items, **dims).items():
        if int(value) < 1:
            raise ConfigError(f'{name} must be at least 1 (got {value})')


def project_features(net: nn.Module, x: Tensor, has: Tensor, normalize: bool) -> Tensor:
    """``net`` applied to one modality's raw features ``[M, d_m]`` (rows L2-normalised when
    ``normalize``): ``[M, D]``, zeros in and out where ``has`` ``[M]`` is false."""
    mask = has.unsqueeze(-1).to(x.dtype)
    x = F.normalize(x, p=2, dim=-1) if normalize else x
    return net(x * mask) * mask


def batch_bpr(batch: TripletBatch, user: Tensor, item: Tensor) -> Tensor:
    """BPR over every negative, averaged over the batch, of the dot-product scores of
    ``user [B, D]`` with ``item [M, D]`` (rows aligned with ``batch.item_id``)."""
    pos = (user * item[batch.pos_index]).sum(dim=-1)                    # [B]
    neg = torch.einsum('bd,bnd->bn', user, item[batch.neg_index])       # [B, N]
    return bpr_loss(pos, neg, negatives='each', reduction='mean')


class DotRanker(HubMixin, nn.Module):
    """Base class of the baselines; subclasses provide :meth:`batch_vectors` and
    :meth:`vectors`."""
    #: Score of one chunk: the plain dot product of the user and item rows.
    chunk_activation = 'identity'
    #: Equal chunks the ranking tables cut the score vectors into.
    score_chunks = 1
    #: Baselines read whole graphs only (no sampled neighbourhoods, no attribute nodes).
    batch_needs = {'sampled_graph': False, 'hops': 0, 'attribute_neighbors': False}
    l2: float

    def batch_vectors(self, batch: TripletBatch, graph: TrainGraph
                      ) -> tuple[Tensor, Tensor, list[Tensor], list[Tensor]]:
        """``(user [B, D], item [M, D], user_reg, item_reg)``: score vectors of the batch and the
        embeddings its L2 term penalises (``user_reg`` rows align with users, ``item_reg`` rows
        with ``batch.item_id``)."""
        raise NotImplementedError

    def vectors(self, graph: TrainGraph) -> tuple[Tensor, Tensor]:
        """Score vectors of every user ``[U, D]`` and item ``[I, D]``."""
        raise NotImplementedError

    def embedding_tables(self) -> list[nn.Embedding]:
        """The tables sparse updates could apply to (none: the baselines train densely)."""
        return []

    def auxiliary_terms(self, batch: TripletBatch, graph: TrainGraph, user: Tensor,
                        item: Tensor) -> dict[str, Tensor]:
        """Weighted loss terms besides BPR and L2, by name, from the batch's score vectors
        ``user [B, D]`` and ``item [M, D]`` (none here)."""
        return {}

    def forward(self, batch: TripletBatch, graph: TrainGraph) -> tuple[Tensor, dict[str, float]]:
        """BPR over every negative plus :math:`\\lambda`·L2 plus the auxiliary terms (see the
        module docstring): ``(loss, {'bpr', 'l2', *auxiliary, 'total'})``."""
        user, item, user_reg, item_reg = self.batch_vectors(batch, graph)
        bpr = batch_bpr(batch, user, item)
        touched = [r[index] for r in item_reg for index in (batch.pos_index, batch.neg_index)]
        l2 = self.l2 * l2_loss(*user_reg, *touched, batch_size=batch.num_users)
        extra = self.auxiliary_terms(batch, graph, user, item)
        total = bpr + l2 + sum(extra.values())
        return total, {'bpr': bpr.item(), 'l2': l2.item(),
                       **{name: term.item() for name, term in extra.items()},
                       'total': total.item()}

    @torch.no_grad()
    def tables(self, graph: TrainGraph) -> ChunkTables:
        """Ranking tables ``[U, K, D / K]``, ``[I, K, D / K]`` with ``K`` =
        :attr:`score_chunks`."""
        user, item = self.vectors(graph)
        chunks = (self.score_chunks, -1)
        return ChunkTables(user.detach().unflatten(-1, chunks),
                           item.detach().unflatten(-1, chunks), self.chunk_activation)
