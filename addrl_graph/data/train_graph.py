r"""The training graph a model reads besides its batches, built once per run.

:class:`TrainGraph` is the input of every ID encoder and every ranking table: the ``TRAIN``
user → item edges, the items' features and attribute values, and the graph structures derived
from them (normalised adjacencies, chunk-expanded relations), which it memoises under a key
chosen by the code that derives them (:meth:`TrainGraph.cached`), as PyG's ``GCNConv(cached=
True)`` keeps its normalisation. The model owns parameters only; the same graph object serves
every training step and every evaluation of a run.

It answers the questions a :class:`~addrl_graph.loader.batch.SampledGraph` answers
(:meth:`nodes`, :meth:`edges`, :meth:`in_degree`), over the whole graph, so an encoder reads
both the same way.

Shapes legend: ``U`` users, ``I`` items, ``E`` training edges, ``A`` attributes, ``d_t`` / ``d_v``
text / image feature widths.
"""
from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass, field, fields
from typing import Any

import torch
from torch import Tensor
from torch_geometric.data import HeteroData

from addrl_graph.data.schema import INTERACTS, TRAIN, attribute_names, has_edge, split_edges

EdgeType = tuple[str, str, str]
ITEM_FIELDS = ('x_text', 'x_image', 'has_text', 'has_image')


def reverse_pair(edge_type: EdgeType) -> tuple[EdgeType, EdgeType]:
    """``(s, r, t)`` and its reverse ``(t, rev_r, s)``."""
    s, r, t = edge_type
    return edge_type, (t, f'rev_{r}', s)


def relation_types(attribute_names: list[str]) -> list[EdgeType]:
    """The relations of a training graph in order: user → item, its reverse, then item → value
    and its reverse for every attribute."""
    return [t for forward in [INTERACTS] + [has_edge(a) for a in attribute_names]
            for t in reverse_pair(forward)]


@dataclass(eq=False)
class TrainGraph:
    """Training edges, item features and attribute values of one graph.

    Attributes:
        edge_index: ``[2, E]`` training user → item edges.
        num_users: ``U``.
        x_text: ``[I, d_t]`` raw text features; ``has_text`` ``[I]`` bool.
        x_image: ``[I, d_v]`` raw image features; ``has_image`` ``[I]`` bool.
        attr: ``[I, A]`` value of every item and attribute.
        attribute_names: the ``A`` attributes in ``attr``'s column order.
        num_values: ``V_a`` per attribute.
    """
    edge_index: Tensor
    num_users: int
    x_text: Tensor
    x_image: Tensor
    has_text: Tensor
    has_image: Tensor
    attr: Tensor
    attribute_names: list[str]
    num_values: list[int]
    _memo: dict[Hashable, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_data(cls, data: HeteroData, meta: dict[str, Any] | None = None) -> 'TrainGraph':
        """The ``TRAIN`` part of a processed graph (:mod:`addrl_graph.data.schema`); the
        attributes are named by ``meta`` or, without it, by the graph's attribute node types
        (in the order the schema's graphs store them, that of ``item.attr``'s columns)."""
        item = data['item']
        names = (attribute_names(meta) if meta is not None
                 else [t for t in data.node_types if t not in ('user', 'item')])
        return cls(split_edges(data, TRAIN).long(), int(data['user'].num_nodes),
                   *(item[key] for key in ITEM_FIELDS), item.attr.long(), names,
                   [int(data[name].num_nodes) for name in names])

    @property
    def num_items(self) -> int:
        return self.attr.size(0)

    @property
    def device(self) -> torch.device:
        return self.edge_index.device

    def to(self, device: torch.device | str) -> 'TrainGraph':
        """A copy on ``device`` (its memo starts empty); ``self`` when already there."""
        if torch.device(device) == self.device:
            return self
        values = {f.name: getattr(self, f.name) for f in fields(self) if f.name != '_memo'}
        return TrainGraph(**{k: v.to(device) if isinstance(v, Tensor) else v
                             for k, v in values.items()})

    def cached(self, key: Hashable, build: Callable[[], Any]) -> Any:
        """``build()`` the first time ``key`` is asked for, the same object afterwards."""
        if key not in self._memo:
            self._memo[key] = build()
        return self._memo[key]

    def item_features(self, rows: slice | Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """``(x_text, x_image, has_text, has_image)`` of items ``rows``."""
        return tuple(getattr(self, key)[rows] for key in ITEM_FIELDS)  # type: ignore[return-value]

    # ------------------------------------------------------------------ graph questions
    def nodes(self, node_type: str) -> Tensor:
        """``[N_t]`` ids of every node of ``node_type`` (``arange``)."""
        sizes = {'user': self.num_users, 'item': self.num_items,
                 **dict(zip(self.attribute_names, self.num_values))}
        return torch.arange(sizes[node_type], device=self.device)

    def relations(self) -> dict[EdgeType, Tensor]:
        """``[2, E_r]`` (source, target) edges of every relation: user → item, its reverse,
        then item → value and its reverse for every attribute (memoised)."""
        def build() -> dict[EdgeType, Tensor]:
            items = torch.arange(self.num_items, device=self.device)
            edges = [self.edge_index] + [torch.stack([items, self.attr[:, col]])
                                         for col in range(len(self.attribute_names))]
            pairs = zip(relation_types(self.attribute_names)[::2], edges)
            return {t: e for forward, edge_index in pairs
                    for t, e in zip(reverse_pair(forward), (edge_index, edge_index.flip(0)))}
        return self.cached('relations', build)

    def edges(self, edge_type: EdgeType) -> Tensor:
        """``[2, E_r]`` edges of ``edge_type``."""
        return self.relations()[edge_type]

    def in_degree(self, edge_type: EdgeType) -> Tensor:
        """``[N_t]`` float in-degree of every target node of ``edge_type``."""
        def build() -> Tensor:
            return torch.bincount(self.edges(edge_type)[1],
                                  minlength=self.nodes(edge_type[2]).numel()).float()
        return self.cached(('in_degree', edge_type), build)
