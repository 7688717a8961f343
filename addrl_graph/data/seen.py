"""Each user's items of some splits, looked up for a block of users at a time: the items a
ranking must mask (seen in training, or in validation when testing) and the held-out items it
is scored against."""
from __future__ import annotations

import torch
from torch import Tensor
from torch_geometric.data import HeteroData

from addrl_graph.data.schema import INTERACTS


class UserItems:
    """The user–item edges of ``splits``, sorted by user.

    Args:
        data: the graph (:mod:`addrl_graph.data.schema`).
        splits: split codes (``TRAIN``, ``VALID``, ``TEST``) whose edges to keep.

    Shapes:
        - :meth:`pairs`: ``[B]`` users → ``[P]`` rows into the block, ``[P]`` items
        - :meth:`mask`: ``[B]`` users → ``[B, I]`` bool
    """
    def __init__(self, data: HeteroData, splits: tuple[int, ...]) -> None:
        store = data[INTERACTS]
        edges = store.edge_index[:, torch.isin(store.split, torch.tensor(splits))]
        edges = edges[:, torch.argsort(edges[0], stable=True)]
        self.user, self.item = edges[0].contiguous(), edges[1].contiguous()
        self.num_users, self.num_items = data['user'].num_nodes, data['item'].num_nodes
        self._position = torch.full((self.num_users,), -1, dtype=torch.long)  # reused per call

    def users(self) -> Tensor:
        """``[B]`` sorted unique users with at least one edge."""
        return torch.unique(self.user)

    def pairs(self, users: Tensor) -> tuple[Tensor, Tensor]:
        """``(row in users, item)`` of every edge of ``users`` (unique, in any order)."""
        users = users.cpu()
        if users.numel() == 0:
            return self.user[:0], self.item[:0]
        self._position[users] = torch.arange(users.numel())
        lo = int(torch.searchsorted(self.user, users.min()))
        hi = int(torch.searchsorted(self.user, users.max(), right=True))
        row = self._position[self.user[lo:hi]]
        self._position[users] = -1
        keep = row >= 0
        return row[keep], self.item[lo:hi][keep]

    def mask(self, users: Tensor) -> Tensor:
        """``[B, I]`` bool: the items of each of ``users``."""
        row, col = self.pairs(users)
        mask = torch.zeros(users.numel(), self.num_items, dtype=torch.bool)
        mask[row, col] = True
        return mask
