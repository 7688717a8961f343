r"""What the ``gcn`` and ``sage`` encoders share: learned attribute-value embeddings and the
chunk-expanded heterogeneous graph (users, items, attribute values).

Both run on the chunk-expanded graph, in which node :math:`n`'s chunk :math:`k` is the node
:math:`n K + k` and an edge ``(s, t)`` becomes the ``K`` edges ``(s K + k, t K + k)``, so every
``d × d`` weight is shared by all chunks and no chunk mixes with another. With
``attribute_aware`` an item's chunk of attribute :math:`a` exchanges messages with its value
node of :math:`a` only. Layers are separated by a leaky ReLU (slope 0.2).
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from addrl_graph.data.train_graph import EdgeType, relation_types
from addrl_graph.errors import ConfigError
from addrl_graph.loader.batch import SampledGraph
from addrl_graph.nn.encoders.base import ChunkSizes, Graph, LayerCombination


class HeteroChunkEncoder(LayerCombination):
    r"""Base of the encoders with weights over the heterogeneous graph; subclasses define
    :meth:`make_layer` (one message-passing layer), :meth:`propagation` (what a layer runs
    over) and :meth:`layer` (one layer's step).

    Args:
        sizes (ChunkSizes): users, items, attributes and their values, chunks.
        num_layers (int): message-passing layers :math:`L`. (default: :obj:`2`)
        layer_weights_ (list[float], optional): :math:`\alpha_0 … \alpha_L`.
        attribute_aware (bool): see the module docstring. (default: :obj:`False`)

    Shapes:
        - **forward**: a graph → ``[N_u, K, d]``, ``[N_i, K, d]``
        - **attribute_embedding[a].weight**: ``[V_a, K * d]``
    """
    def __init__(self, sizes: ChunkSizes, num_layers: int = 2,
                 layer_weights_: Sequence[float] | None = None,
                 attribute_aware: bool = False) -> None:
        super().__init__(sizes, num_layers, layer_weights_)
        self.attribute_aware = bool(attribute_aware)
        width = sizes.num_chunks * sizes.d_chunk
        self.attribute_embedding = nn.ModuleDict(
            {a: nn.Embedding(v, width) for a, v in zip(sizes.attribute_names, sizes.num_values)})
        self.edge_types = relation_types(list(sizes.attribute_names))
        self.layers = nn.ModuleList([self.make_layer() for _ in range(num_layers)])

    @property
    def node_types(self) -> list[str]:
        return ['user', 'item', *self.sizes.attribute_names]

    def chunks(self, edge_type: EdgeType) -> list[int] | None:
        """The chunks an edge of ``edge_type`` connects: all (:obj:`None`), or with
        ``attribute_aware`` and an attribute-value end, that attribute's chunk."""
        names = [t for t in (edge_type[0], edge_type[2]) if t in self.sizes.attribute_names]
        if self.attribute_aware and names:
            return [self.sizes.attribute_names.index(names[0])]
        return None

    def chunk_degree(self, graph: Graph) -> Tensor:
        """``[N, K]`` full-graph degree of every (node, chunk) of the chunk-expanded graph with
        self-loops, nodes in :attr:`node_types` order."""
        K = self.sizes.num_chunks
        degree = {t: torch.ones(graph.nodes(t).numel(), K, device=graph.nodes('user').device)
                  for t in self.node_types}
        for edge_type in self.edge_types:
            chunks = self.chunks(edge_type)
            columns = slice(None) if chunks is None else chunks
            degree[edge_type[2]][:, columns] += graph.in_degree(edge_type).unsqueeze(-1)
        return torch.cat([degree[t] for t in self.node_types])

    def _check_sampled(self, graph: SampledGraph) -> None:
        missing = [a for a in self.sizes.attribute_names if a not in graph.node]
        if missing:
            raise ConfigError(f'the {type(self).__name__} needs the attribute-value nodes in the '
                              'sampled graph: build the loader with attribute_neighbors=True '
                              f'(got a graph without {missing})')

    def forward(self, graph: Graph) -> tuple[Tensor, Tensor]:
        K, d = self.sizes.num_chunks, self.sizes.d_chunk
        sampled = isinstance(graph, SampledGraph)
        if sampled:
            self._check_sampled(graph)
        user, item = self.ego(graph)
        x = {'user': user, 'item': item,
             **{a: (emb(graph.nodes(a)) if sampled else emb.weight).view(-1, K, d)
                for a, emb in self.attribute_embedding.items()}}
        x = {t: v.reshape(-1, d) for t, v in x.items()}                 # [N * K, d]
        edges = self.propagation(graph)
        layers = [x]
        for i, layer in enumerate(self.layers):
            h = self.layer(layer, layers[-1], edges)
            if i < self.num_layers - 1:
                h = {t: F.leaky_relu(v, negative_slope=0.2) for t, v in h.items()}
            layers.append(h)
        out = {t: self.combine([h[t] for h in layers]).view(-1, K, d) for t in ('user', 'item')}
        return out['user'], out['item']

    def make_layer(self) -> nn.Module:
        raise NotImplementedError

    def propagation(self, graph: Graph) -> Any:
        raise NotImplementedError

    def layer(self, layer: nn.Module, x: dict[str, Tensor], edges: Any) -> dict[str, Tensor]:
        raise NotImplementedError
