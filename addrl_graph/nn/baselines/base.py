r"""What the comparison models share: the objective and the ranking tables of a dot product.

Every baseline scores with one chunk (:math:`K = 1`) and ``chunk_activation = 'identity'``: its
:meth:`DotRanker.tables` give ``[U, 1, D]`` and ``[I, 1, D]`` and the score is their dot
product. Every baseline trains on the same objective,

.. math::
    \mathcal{L} = \frac{1}{B} \sum_{b} \frac{1}{N} \sum_{n}
    -\log \sigma\big(s(u_b, i^+_b) - s(u_b, i^-_{b,n})\big)
    + \lambda \frac{1}{2B} \sum_{e} \lVert e \rVert_2^2,

BPR over every negative (averaged over the batch) plus L2 on the embeddings the batch touches,
counted once per occurrence (users, positives, each negative), in the form of
:func:`addrl_graph.nn.losses.l2_loss`.

Shapes legend: ``U`` users, ``I`` items, ``B`` batch, ``M`` unique items in a batch, ``N``
negatives per positive, ``D`` width of the score vector.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from addrl_graph.data.train_graph import TrainGraph
from addrl_graph.errors import ConfigError
from addrl_graph.loader.batch import TripletBatch
from addrl_graph.nn.losses import bpr_loss, l2_loss
from addrl_graph.nn.scoring import ChunkTables


def check_sizes(num_users: int, num_items: int, **dims: int) -> None:
    for name, value in dict(num_users=num_users, num_items=num_items, **dims).items():
        if int(value) < 1:
            raise ConfigError(f'{name} must be at least 1 (got {value})')


class DotRanker(nn.Module):
    """Base class of the baselines; subclasses provide :meth:`batch_vectors` and
    :meth:`vectors`."""
    #: Score of one chunk: the plain dot product of the user and item rows.
    chunk_activation = 'identity'
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

    def forward(self, batch: TripletBatch, graph: TrainGraph) -> tuple[Tensor, dict[str, float]]:
        """BPR over every negative plus :math:`\\lambda`·L2 (see the module docstring):
        ``(loss, {'bpr', 'l2', 'total'})``."""
        user, item, user_reg, item_reg = self.batch_vectors(batch, graph)
        pos = (user * item[batch.pos_index]).sum(dim=-1)                    # [B]
        neg = torch.einsum('bd,bnd->bn', user, item[batch.neg_index])       # [B, N]
        bpr = bpr_loss(pos, neg, negatives='each', reduction='mean')
        touched = [r[index] for r in item_reg for index in (batch.pos_index, batch.neg_index)]
        l2 = self.l2 * l2_loss(*user_reg, *touched, batch_size=batch.num_users)
        total = bpr + l2
        return total, {'bpr': bpr.item(), 'l2': l2.item(), 'total': total.item()}

    @torch.no_grad()
    def tables(self, graph: TrainGraph) -> ChunkTables:
        """One-chunk ranking tables ``[U, 1, D]``, ``[I, 1, D]``."""
        user, item = self.vectors(graph)
        return ChunkTables(user.detach().unsqueeze(1), item.detach().unsqueeze(1),
                           self.chunk_activation)
