"""The training batch: the contract between :mod:`addrl_graph.loader.link_loader` and the model's loss.

A batch holds ``B`` BPR triplets ``(u, i+, i-_1 … i-_N)``. Items are stored once each
(``M`` unique items, with their features and attribute labels) and the triplets point into
them, so the item side of the model (Eq. 1-2, 8-9) runs once per unique item. With neighbour
sampling it also carries the :class:`SampledGraph` around its users and items.
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields

import torch
from torch import Tensor

EdgeType = tuple[str, str, str]


def check_index(name: str, index: Tensor, size: int) -> None:
    """Raise :class:`ValueError` unless every entry of ``index`` lies in ``[0, size)``."""
    if index.numel() and (int(index.min()) < 0 or int(index.max()) >= size):
        raise ValueError(f'{name} must index [0, {size}) '
                         f'(got [{int(index.min())}, {int(index.max())}])')


@dataclass(eq=False)
class SampledGraph:
    """The sampled neighbourhood of a batch, on which a graph ID encoder computes the ID chunks
    of the batch's users and items.

    Shapes: ``N_t`` nodes of type ``t``, ``S_t`` seeds of type ``t``, ``E_r`` edges of
    relation ``r = (source type, name, target type)``.

    Attributes:
        node: ``{t: [N_t]}`` global node ids; the first ``S_t`` are the seeds, sorted and unique
            (the batch's unique users, and its items ``item_id``); other types have no seeds.
        edge_index: ``{r: [2, E_r]}`` local (source, target) indices into ``node``; messages
            flow source → target, the target being the node whose neighbours were sampled.
        num_seeds: ``{t: S_t}``.
        full_in_degree: ``{r: [N_t]}`` in-degree in the whole training graph of every node of
            relation ``r``'s target type ``t`` (the normalisation a graph encoder keeps).
    """
    node: dict[str, Tensor]
    edge_index: dict[EdgeType, Tensor]
    num_seeds: dict[str, int]
    full_in_degree: dict[EdgeType, Tensor] = field(default_factory=dict)

    def to(self, device: torch.device | str, non_blocking: bool = False) -> SampledGraph:
        """A copy with every tensor on ``device``."""
        def move(tensors: dict) -> dict:
            return {k: v.to(device, non_blocking=non_blocking) for k, v in tensors.items()}
        return SampledGraph(move(self.node), move(self.edge_index), dict(self.num_seeds),
                            move(self.full_in_degree))

    def in_degree(self, edge_type: EdgeType) -> Tensor:
        """``[N_t]`` float in-degree in the whole training graph, for relation ``edge_type``,
        of every node of its target type ``t`` (0 for a relation the graph does not hold)."""
        if edge_type in self.full_in_degree:
            return self.full_in_degree[edge_type]
        return torch.zeros(self.nodes(edge_type[2]).numel(), device=self.node['user'].device)

    def nodes(self, node_type: str) -> Tensor:
        """``[N_t]`` global ids of ``node_type`` (empty when the graph has none)."""
        return self.node.get(node_type, self._empty(0))

    def edges(self, edge_type: EdgeType) -> Tensor:
        """``[2, E_r]`` local edges of ``edge_type`` (empty when none was sampled)."""
        return self.edge_index.get(edge_type, self._empty(2, 0))

    def _empty(self, *shape: int) -> Tensor:
        return torch.empty(*shape, dtype=torch.long, device=self.node['user'].device)

    def seeds(self, node_type: str) -> Tensor:
        """``[S_t]`` global ids of the seeds of ``node_type``."""
        return self.nodes(node_type)[:self.num_seeds.get(node_type, 0)]

    def locate(self, node_type: str, ids: Tensor) -> Tensor:
        """Local indices of seed ``ids`` (any shape) of ``node_type``."""
        return torch.searchsorted(self.seeds(node_type), ids)

    def validate(self, user_id: Tensor, item_id: Tensor) -> None:
        """Check dtypes, seeds and index ranges against the batch's ``user_id`` ``[B]`` and
        ``item_id`` ``[M]``; raise :class:`ValueError` on the first violation."""
        for t, ids in self.node.items():
            if ids.dim() != 1 or ids.dtype != torch.long:
                raise ValueError(f'SampledGraph.node[{t!r}] must be a long vector '
                                 f'(got {ids.dtype} {list(ids.shape)})')
        for t, expected in (('user', user_id.unique()), ('item', item_id)):
            if not torch.equal(self.seeds(t), expected):
                raise ValueError(f'SampledGraph seeds of {t!r} must be the sorted unique {t} ids '
                                 f'of the batch (got {self.seeds(t).tolist()[:8]}…)')
        for edge_type, edges in self.edge_index.items():
            if edges.dim() != 2 or edges.size(0) != 2 or edges.dtype != torch.long:
                raise ValueError(f'SampledGraph edges must be long [2, E] '
                                 f'(got {edges.dtype} {list(edges.shape)})')
            for side, t in zip(edges, (edge_type[0], edge_type[2])):
                check_index(f'SampledGraph.edge_index[{edge_type}] ({t})', side,
                            self.nodes(t).numel())


@dataclass
class TripletBatch:
    """BPR triplets plus the features and labels of every item they touch.

    Shapes: ``B`` users (one per triplet), ``M`` unique items, ``N`` negatives per positive,
    ``A`` attributes, ``d_t`` / ``d_v`` raw text / image feature widths (0 when absent).

    Attributes:
        user_id: ``[B]`` global user index.
        item_id: ``[M]`` global item index of every item the batch touches.
        pos_index: ``[B]`` positions into ``item_id`` of the positive items.
        neg_index: ``[B, N]`` positions into ``item_id`` of the negative items.
        x_text: ``[M, d_t]`` raw text features.
        x_image: ``[M, d_v]`` raw image features.
        has_text: ``[M]`` bool, the item has a text feature.
        has_image: ``[M]`` bool, the item has an image feature.
        attr: ``[M, A]`` long attribute-value labels.
        graph: the sampled neighbourhood of the batch's users and items, or ``None`` (seed
            nodes only: graph encoders then run on the whole graph).
    """
    user_id: Tensor
    item_id: Tensor
    pos_index: Tensor
    neg_index: Tensor
    x_text: Tensor
    x_image: Tensor
    has_text: Tensor
    has_image: Tensor
    attr: Tensor
    graph: SampledGraph | None = None

    def to(self, device: torch.device | str, non_blocking: bool = False) -> 'TripletBatch':
        """A copy with every tensor (and the sampled graph) on ``device``."""
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        return TripletBatch(**{name: None if value is None
                               else value.to(device, non_blocking=non_blocking)
                               for name, value in values.items()})

    @property
    def num_users(self) -> int:
        """``B``, the number of triplets (users may repeat)."""
        return self.user_id.numel()

    @property
    def num_items(self) -> int:
        """``M``, the number of unique items."""
        return self.item_id.numel()

    @property
    def num_negatives(self) -> int:
        """``N``, negatives per positive."""
        return self.neg_index.size(1)

    def validate(self) -> 'TripletBatch':
        """Check shapes, dtypes and index ranges; raise :class:`ValueError` on the first
        violation (a loader bug, not a user error). Returns ``self``."""
        B, M = self.num_users, self.num_items
        expect = {
            'user_id': ((B,), torch.long), 'item_id': ((M,), torch.long),
            'pos_index': ((B,), torch.long), 'neg_index': ((B, self.neg_index.size(-1)),
                                                           torch.long),
            'has_text': ((M,), torch.bool), 'has_image': ((M,), torch.bool),
        }
        for name, (shape, dtype) in expect.items():
            t = getattr(self, name)
            if tuple(t.shape) != shape or t.dtype != dtype:
                raise ValueError(f'TripletBatch.{name} must be {dtype} {list(shape)} '
                                 f'(got {t.dtype} {list(t.shape)})')
        for name in ('x_text', 'x_image', 'attr'):
            t = getattr(self, name)
            if t.dim() != 2 or t.size(0) != M:
                raise ValueError(f'TripletBatch.{name} must have {M} rows (got {list(t.shape)})')
        for name in ('pos_index', 'neg_index'):
            check_index(f'TripletBatch.{name}', getattr(self, name), M)
        if self.graph is not None:
            self.graph.validate(self.user_id, self.item_id)
        return self
