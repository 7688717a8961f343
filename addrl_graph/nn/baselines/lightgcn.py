r"""LightGCN (He et al., SIGIR 2020) as a ranker over the training user–item graph."""
from __future__ import annotations

from torch import Tensor
from torch_geometric.nn.models import LightGCN

from addrl_graph.data.train_graph import TrainGraph
from addrl_graph.errors import ConfigError
from addrl_graph.loader.batch import TripletBatch
from addrl_graph.nn.baselines.base import DotRanker, check_sizes
from addrl_graph.nn.encoders.lightgcn import lightgcn_adjacency
from addrl_graph.nn.sparse import lightgcn_propagate


class LightGCNRanker(DotRanker):
    r"""LightGCN from the `"LightGCN: Simplifying and Powering Graph Convolution Network for
    Recommendation" <https://arxiv.org/abs/2002.02126>`_ paper:

    .. math::
        \mathbf{x}^{(l+1)} = D^{-1/2} A D^{-1/2}\, \mathbf{x}^{(l)}, \qquad
        \mathbf{x} = \sum_{l=0}^{L} \alpha_l \mathbf{x}^{(l)}, \qquad
        s(u, i) = \mathbf{x}_u^\top \mathbf{x}_{U + i}.

    PyG's :class:`~torch_geometric.nn.models.LightGCN` holds the ego embeddings
    :math:`\mathbf{x}^{(0)}` and the layer weights :math:`\alpha` (uniform); the propagation is
    the one AD-DRL's LightGCN encoder runs (:func:`~addrl_graph.nn.sparse.lightgcn_propagate`
    over the graph's memoised CSR adjacency). Every training batch propagates over the whole
    graph; the L2 term is on the ego embeddings of the batch, as in the paper.

    Args:
        num_users (int): number of users :math:`U`.
        num_items (int): number of items :math:`I`.
        embedding_dim (int): width :math:`D`. (default: :obj:`64`)
        num_layers (int): number of propagation layers :math:`L`. (default: :obj:`3`)
        l2 (float): :math:`\lambda`, weight of the L2 term. (default: :obj:`1e-4`)

    Shapes:
        - :meth:`propagate`: a graph → ``[U + I, D]``
    """
    def __init__(self, num_users: int, num_items: int, embedding_dim: int = 64,
                 num_layers: int = 3, l2: float = 1e-4):
        super().__init__()
        check_sizes(num_users, num_items, embedding_dim=embedding_dim)
        if num_layers < 0:
            raise ConfigError(f'num_layers must be >= 0 (got {num_layers})')
        self.num_users, self.num_items = int(num_users), int(num_items)
        self.l2 = float(l2)
        self.gnn = LightGCN(self.num_users + self.num_items, embedding_dim, num_layers,
                            normalize=False)

    def reset_parameters(self) -> None:
        self.gnn.reset_parameters()

    @classmethod
    def from_graph(cls, graph: TrainGraph, **kwargs) -> 'LightGCNRanker':
        return cls(graph.num_users, graph.num_items, **kwargs)

    def propagate(self, graph: TrainGraph) -> Tensor:
        """Final embeddings of every node, :math:`\\sum_l \\alpha_l \\mathbf{x}^{(l)}`."""
        return lightgcn_propagate(lightgcn_adjacency(graph), self.gnn.embedding.weight,
                                  self.gnn.alpha)

    def batch_vectors(self, batch: TripletBatch, graph: TrainGraph):
        out = self.propagate(graph)
        ego = self.gnn.embedding.weight
        item_nodes = batch.item_id + self.num_users
        return (out[batch.user_id], out[item_nodes], [ego[batch.user_id]], [ego[item_nodes]])

    def vectors(self, graph: TrainGraph) -> tuple[Tensor, Tensor]:
        out = self.propagate(graph)
        return out[:self.num_users], out[self.num_users:]
