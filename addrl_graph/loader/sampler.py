"""Negative sampling that never returns a training positive, and a pure-PyTorch link sampler.

:class:`TrainPairs` stores the training ``(user, item)`` pairs as a sorted vector of hashed keys
``user * I + item`` and answers membership with :func:`torch.searchsorted`; it draws negatives
uniformly and replaces collisions, all vectorised.

:class:`TripletSampler` plugs into PyG's :class:`~torch_geometric.loader.LinkLoader` when no
neighbour-sampling backend (``pyg-lib`` / ``torch-sparse``) is installed. It returns the seed nodes
alone (``num_neighbors`` ``[]`` or ``[0]``), or their sampled multi-hop neighbourhoods over the
training graph (:class:`~addrl_graph.loader.neighbors.NeighborIndex`) for graph ID encoders.
"""
from __future__ import annotations

from typing import Any, Sequence

import torch
from torch import Tensor
from torch.utils.data import get_worker_info
from torch_geometric.data import HeteroData
from torch_geometric.sampler import (
    BaseSampler,
    EdgeSamplerInput,
    HeteroSamplerOutput,
    NegativeSampling,
)

from addrl_graph.data.schema import INTERACTS, TRAIN, split_edges
from addrl_graph.errors import ConfigError
from addrl_graph.loader.neighbors import NeighborIndex, check_num_neighbors, samples_neighbors


class TrainPairs:
    r"""The set of training ``(user, item)`` pairs, for collision-free negative sampling.

    Args:
        edge_index: training user–item edges (duplicates are fine).
        num_users: number of users ``U``.
        num_items: number of items ``I``.

    Shapes:
        - **edge_index** :math:`[2, E]`
        - **keys** :math:`[E']` sorted unique ``user * I + item``; **rowptr** :math:`[U + 1]`
    """
    def __init__(self, edge_index: Tensor, num_users: int, num_items: int) -> None:
        if num_items <= 0:
            raise ConfigError('negative sampling needs at least one item '
                              f'(got num_items={num_items})')
        self.num_users, self.num_items = int(num_users), int(num_items)
        keys = edge_index[0].long() * self.num_items + edge_index[1].long()
        self.keys = torch.unique(keys)  # sorted
        bounds = torch.arange(self.num_users + 1, dtype=torch.long) * self.num_items
        self.rowptr = torch.searchsorted(self.keys, bounds)
        self.degree = self.rowptr.diff()

    @classmethod
    def from_data(cls, data: HeteroData) -> 'TrainPairs':
        """Build from the ``TRAIN`` edges of ``data[INTERACTS]``."""
        return cls(split_edges(data, TRAIN), data['user'].num_nodes, data['item'].num_nodes)

    def contains(self, user: Tensor, item: Tensor) -> Tensor:
        """Whether ``(user, item)`` is a training pair; ``user`` broadcasts against ``item``.

        Shapes:
            - **user** :math:`[B]` or :math:`[B, 1]`, **item** :math:`[B, N]` → :math:`[B, N]` bool
        """
        if self.keys.numel() == 0:
            return torch.zeros(item.shape, dtype=torch.bool)
        query = user.view(user.size(0), *([1] * (item.dim() - 1))) * self.num_items + item
        pos = torch.searchsorted(self.keys, query).clamp_(max=self.keys.numel() - 1)
        return self.keys[pos] == query

    def sample_negatives(self, user: Tensor, num_neg: int, generator: torch.Generator,
                         max_rounds: int = 4) -> Tensor:
        """Draw ``num_neg`` items per user uniformly among the items it has not trained on.

        Shapes:
            - **user** :math:`[B]` → :math:`[B, N]`
        """
        neg = torch.randint(self.num_items, (user.numel(), num_neg), generator=generator)
        return self.resample_collisions(user, neg, generator, max_rounds)

    def resample_collisions(self, user: Tensor, neg: Tensor, generator: torch.Generator,
                            max_rounds: int = 4) -> Tensor:
        """Replace every ``neg[b, n]`` that is a training item of ``user[b]``.

        Collisions are redrawn uniformly for ``max_rounds`` rounds; whatever still collides
        (users who trained on most items) is drawn exactly from the user's complement.
        The result is uniform over the complement either way.

        Raises:
            ConfigError: a user trained on every item, so no negative exists.

        Shapes:
            - **user** :math:`[B]`, **neg** :math:`[B, N]` → :math:`[B, N]` (a new tensor)
        """
        neg = neg.clone()
        if neg.numel() == 0:
            return neg
        user_rep = user.view(-1, 1).expand_as(neg)
        hit = self.contains(user, neg)
        for _ in range(max_rounds):
            num_hit = int(hit.sum())
            if num_hit == 0:
                return neg
            fresh = torch.randint(self.num_items, (num_hit,), generator=generator)
            neg[hit] = fresh
            hit[hit.clone()] = self.contains(user_rep[hit], fresh.view(-1, 1)).view(-1)
        if bool(hit.any()):
            neg[hit] = self._sample_complement(user_rep[hit], generator)
        return neg

    def _sample_complement(self, user: Tensor, generator: torch.Generator) -> Tensor:
        # The r-th free item x of user u solves x = r + #{train items of u that are <= x};
        # iterating ans <- r + count(<= ans) from ans = r climbs monotonically to it.
        free = self.num_items - self.degree[user]
        if bool((free <= 0).any()):
            bad = user[free <= 0][:5].tolist()
            raise ConfigError(f'users {bad} trained on all {self.num_items} items, so no '
                              'negative item exists for them; drop them from the graph')
        r = (torch.rand(user.shape, generator=generator, dtype=torch.float64) * free).long()
        r = torch.minimum(r, free - 1)
        ans, base = r.clone(), user * self.num_items
        while True:
            count = torch.searchsorted(self.keys, base + ans, right=True) - self.rowptr[user]
            new = r + count
            if torch.equal(new, ans):
                return ans
            ans = new


def worker_generator(generator: torch.Generator, state: dict[str, Any],
                     offset: int = 0) -> torch.Generator:
    """Reseed ``generator`` once per DataLoader worker (and epoch) from the worker's seed
    (plus ``offset``, which keeps a worker's other generators apart).

    Worker processes get copies of the same generator; without this every worker would draw
    the same negatives. In the main process the generator is returned unchanged.
    """
    info = get_worker_info()
    if info is not None and state.get('worker_seed') != info.seed:
        generator.manual_seed(info.seed + offset)
        state['worker_seed'] = info.seed
    return generator


class TripletSampler(BaseSampler):
    r"""A pure-PyTorch :class:`~torch_geometric.sampler.BaseSampler` for BPR triplets.

    For each seed edge ``(u, i)`` it draws ``amount`` negative items ``j`` uniformly among the
    items ``u`` has no training edge with. The seeds are the batch's users and all its items
    (positives and negatives), sorted and unique; with ``num_neighbors`` reaching beyond them
    their neighbourhoods are sampled hop by hop (:meth:`NeighborIndex.sample`), the seeds staying
    first in every ``node`` vector. The output has the layout of PyG's
    :class:`~torch_geometric.sampler.NeighborSampler` with ``NegativeSampling('triplet')``
    (``metadata = (input_id, src_index, dst_pos_index, dst_neg_index, seed_time)``, indices
    into the seed part of the ``node`` vectors).

    Args:
        data: the graph; its ``TRAIN`` edges define what is not a negative and what can be
            sampled, its attribute node types (if any) are sampled too.
        num_neighbors: fan-out per hop (``-1``: all neighbours); ``None``, ``[]`` or ``[0]``
            return the seed nodes only, with no edges. (default: ``None``)
        seed: seed of the sampler's own :class:`torch.Generator` (and, plus 2, of the one that
            samples neighbourhoods, so that the triplets do not depend on ``num_neighbors``).
            (default: ``0``)
        train_pairs: a prebuilt :class:`TrainPairs` to share. (default: ``None``)

    Shapes:
        - **node['user']** :math:`[N_u]` starting with the :math:`B_u` unique users,
          **node['item']** :math:`[N_i]` starting with the :math:`M` unique items
        - **row[r]**, **col[r]** :math:`[E_r]` local indices per relation (none when seed-only)
        - **src_index**, **dst_pos_index** :math:`[B]`; **dst_neg_index** :math:`[B, N]`
    """
    def __init__(self, data: HeteroData, num_neighbors: Sequence[int] | None = None,
                 seed: int = 0, train_pairs: TrainPairs | None = None) -> None:
        self.num_neighbors = check_num_neighbors(num_neighbors)
        self.neighbors = NeighborIndex(data) if samples_neighbors(self.num_neighbors) else None
        self.pairs = train_pairs if train_pairs is not None else TrainPairs.from_data(data)
        self.generator, self.neighbor_generator = torch.Generator(), torch.Generator()
        self.reseed(seed)

    def reseed(self, seed: int) -> None:
        """Restart both generators from ``seed`` (as a sampler built with it)."""
        self.generator.manual_seed(seed)
        self.neighbor_generator.manual_seed(seed + 2)
        self._worker_state: dict[str, Any] = {}
        self._neighbor_worker_state: dict[str, Any] = {}

    def sample_from_edges(self, inputs: EdgeSamplerInput,
                          neg_sampling: NegativeSampling | None = None) -> HeteroSamplerOutput:
        if neg_sampling is None or not neg_sampling.is_triplet():
            raise ConfigError('TripletSampler needs NegativeSampling("triplet", amount=N) '
                              f'(got {neg_sampling})')
        if inputs.input_type is not None and tuple(inputs.input_type) != INTERACTS:
            raise ConfigError(f'TripletSampler samples {INTERACTS} edges '
                              f'(got {inputs.input_type})')
        generator = worker_generator(self.generator, self._worker_state)
        src, dst = inputs.row.long(), inputs.col.long()
        num_pos = src.numel()
        num_neg = int(neg_sampling.amount)
        neg = self.pairs.sample_negatives(src, num_neg, generator)
        user, src_index = torch.unique(src, return_inverse=True)
        item, item_index = torch.unique(torch.cat([dst, neg.view(-1)]), return_inverse=True)
        metadata = (inputs.input_id, src_index, item_index[:num_pos],
                    item_index[num_pos:].view(num_pos, num_neg), None)
        node, row, col = {'user': user, 'item': item}, {}, {}
        counts = {'user': [user.numel()], 'item': [item.numel()]}
        if self.neighbors is not None:
            generator = worker_generator(self.neighbor_generator, self._neighbor_worker_state,
                                         offset=2)
            node, row, col, counts = self.neighbors.sample(node, self.num_neighbors, generator)
        return HeteroSamplerOutput(node=node, row=row, col=col, edge={},
                                   num_sampled_nodes=counts, metadata=metadata)

    def sample_from_nodes(self, index: Any, **kwargs: Any) -> Any:
        raise NotImplementedError('TripletSampler samples from training edges only; use it '
                                  'with LinkLoader (node-level loaders need NeighborSampler)')
