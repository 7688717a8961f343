r"""Matrix factorisation trained with BPR (Rendle et al., UAI 2009)."""
from __future__ import annotations

from torch import Tensor, nn

from addrl_graph.data.train_graph import TrainGraph
from addrl_graph.loader.batch import TripletBatch
from addrl_graph.nn.baselines.base import DotRanker, check_sizes


class BPRMF(DotRanker):
    r"""Matrix factorisation trained with BPR, from the `"BPR: Bayesian Personalized Ranking
    from Implicit Feedback" <https://arxiv.org/abs/1205.2618>`_ paper:
    :math:`s(u, i) = \mathbf{p}_u^\top \mathbf{q}_i`.

    Args:
        num_users (int): number of users :math:`U`.
        num_items (int): number of items :math:`I`.
        embedding_dim (int): width :math:`D` of the user and item embeddings.
            (default: :obj:`64`)
        l2 (float): :math:`\lambda`, weight of the L2 term. (default: :obj:`1e-4`)
    """
    def __init__(self, num_users: int, num_items: int, embedding_dim: int = 64,
                 l2: float = 1e-4):
        super().__init__()
        check_sizes(num_users, num_items, embedding_dim=embedding_dim)
        self.num_users, self.num_items = int(num_users), int(num_items)
        self.l2 = float(l2)
        self.user_embedding = nn.Embedding(self.num_users, embedding_dim)
        self.item_embedding = nn.Embedding(self.num_items, embedding_dim)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.normal_(self.user_embedding.weight, std=0.1)
        nn.init.normal_(self.item_embedding.weight, std=0.1)

    @classmethod
    def from_graph(cls, graph: TrainGraph, **kwargs) -> 'BPRMF':
        return cls(graph.num_users, graph.num_items, **kwargs)

    def batch_vectors(self, batch: TripletBatch, graph: TrainGraph):
        user = self.user_embedding(batch.user_id)
        item = self.item_embedding(batch.item_id)
        return user, item, [user], [item]

    def vectors(self, graph: TrainGraph) -> tuple[Tensor, Tensor]:
        return self.user_embedding.weight, self.item_embedding.weight
