r"""ID-chunk encoders: turn the ego ID embeddings of users and items into the ID chunks of AD-DRL.

Every encoder maps ego chunks ``([U, K, d], [I, K, d])`` to output chunks of the same shapes and
never mixes chunk :math:`k` with chunk :math:`j`: propagation is weight-free (LightGCN) or its
weights are ``d × d`` matrices shared by all chunks (block-diagonal over the ``K * d`` vector),
applied to the chunk-expanded graph in which node :math:`n`'s chunk :math:`k` is the node
:math:`n K + k` and an edge ``(s, t)`` becomes the ``K`` edges ``(s K + k, t K + k)``.

- ``embedding``: the identity (the paper's model).
- ``lightgcn``: :math:`\mathbf{x}^{(l+1)} = D^{-1/2} A D^{-1/2} \mathbf{x}^{(l)}` over the
  training user–item edges (PyG's :class:`~torch_geometric.nn.conv.LGConv` weights, computed as
  one sparse CSR product per layer with :func:`addrl_graph.nn.baselines.symmetric_spmm`).
- ``gcn``: PyG :class:`~torch_geometric.nn.conv.GCNConv` over the homogeneous view of the
  heterogeneous graph (users, items and attribute-value nodes, self-loops added).
- ``sage``: :class:`~torch_geometric.nn.conv.HeteroConv` of one
  :class:`~torch_geometric.nn.conv.SAGEConv` per edge type (relations summed).

``gcn`` and ``sage`` give every attribute value its own learned ``[V_a, K * d]`` embedding.
With ``attribute_aware=True`` an item's chunk of attribute :math:`a` exchanges messages with the
item's value node of :math:`a` only, and its other chunks (other attributes, free chunks) with
no attribute node. Every encoder combines its layers as LightGCN does,
:math:`\sum_{l=0}^{L} \alpha_l \mathbf{x}^{(l)}` (uniform :math:`\alpha_l = 1/(L+1)` unless
given), so the ego embedding always contributes.

Encoders work on the whole graph at once by default: one call per training step and one per
evaluation (all node representations computed layer by layer, never by sampling per user).
For mini-batch training they also run, with the same code, on a batch's sampled neighbourhood
(:class:`~addrl_graph.loader.batch.SampledGraph`, from :func:`addrl_graph.loader.link_loader.make_train_loader`
with ``num_neighbors``), of which only the seed rows are meant to be used: messages keep the
full graph's normalisation, and the ``lightgcn``/``gcn`` sums over a target's sampled
neighbours of one relation are scaled by (its full in-degree in that relation) / (its sampled
in-degree), an unbiased estimate of the full sum (``sage`` averages, which needs no scale).
With every neighbour sampled for ``L`` hops the seeds' outputs equal the full-graph ones.

Shapes legend: ``U`` users, ``I`` items, ``K`` chunks, ``d`` chunk width, ``A`` attributes,
``V_a`` values of attribute a, ``E`` training user–item edges.
"""
from __future__ import annotations

import logging
from typing import Any, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.nn import GCNConv, HeteroConv, SAGEConv
from torch_geometric.nn.conv.gcn_conv import gcn_norm

from addrl_graph.nn.baselines import normalized_adjacency, sparse_csr, symmetric_spmm
from addrl_graph.loader.batch import SampledGraph
from addrl_graph.data.schema import INTERACTS, REV_INTERACTS, has_edge
from addrl_graph.errors import ConfigError
from addrl_graph.loader.neighbors import EdgeType, with_reverse

log = logging.getLogger(__name__)

ENCODERS = ('embedding', 'lightgcn', 'gcn', 'sage')
#: Encoders that also pass messages through attribute-value nodes (their sampled
#: neighbourhoods must include them).
ATTRIBUTE_ENCODERS = ('gcn', 'sage')


def combination_weights(num_layers: int, weights: Sequence[float] | None = None) -> Tensor:
    """Layer weights :math:`\\alpha_0 … \\alpha_L`: ``weights`` as given, or uniform
    :math:`1/(L+1)` (LightGCN's default)."""
    if weights is None:
        return torch.full((num_layers + 1,), 1.0 / (num_layers + 1))
    if len(weights) != num_layers + 1:
        raise ConfigError(f'layer_weights must hold encoder_layers + 1 = {num_layers + 1} '
                          f'numbers (got {list(weights)})')
    return torch.tensor([float(w) for w in weights])


def chunk_edges(edge_index: Tensor, num_chunks: int, chunks: Sequence[int] | None = None) -> Tensor:
    """Replicate ``[2, E]`` edges over chunks: ``(s, t)`` → ``(s K + k, t K + k)`` for every
    ``k`` in ``chunks`` (all ``K`` chunks when :obj:`None`), indexing ``[N, K, d]`` features
    flattened to ``[N * K, d]``.

    Shapes:
        - **edge_index** :math:`[2, E]` → :math:`[2, E \\cdot |chunks|]`
    """
    ks = torch.arange(num_chunks) if chunks is None else torch.as_tensor(list(chunks),
                                                                       dtype=torch.long)
    ks = ks.to(edge_index.device)
    return (edge_index.unsqueeze(-1) * num_chunks + ks.view(1, 1, -1)).reshape(2, -1)


def sampling_scale(target: Tensor, in_degree: Tensor) -> Tensor:
    """Per edge, (full in-degree) / (sampled in-degree) of its target: the factor that makes
    a sum over uniformly sampled neighbours an unbiased estimate of the full sum (1 when all
    were sampled).

    Shapes:
        - **target** :math:`[E]` local target of every sampled edge, **in_degree** :math:`[N]`
          full-graph in-degree of every local node → :math:`[E]`
    """
    sampled = torch.bincount(target, minlength=in_degree.numel())
    return in_degree[target] / sampled[target]


def _offsets(sizes: dict[str, int]) -> dict[str, int]:
    """Start of every node type in a homogeneous index that lists the types in order."""
    starts = torch.tensor([0] + list(sizes.values())[:-1]).cumsum(0).tolist()
    return dict(zip(sizes, starts))


class ChunkEncoder(nn.Module):
    """Base class: ego chunks in, ID chunks out.

    Attributes:
        propagates: whether a node's output depends on other nodes (then the model computes
            all nodes at once, or all nodes of a sampled graph, and caches the result between
            the calls of one step).

    ``forward(user, item, graph)`` takes the ego chunks of every node of the whole graph
    (``graph=None``) or of every node of a :class:`~addrl_graph.loader.batch.SampledGraph`
    (``U = len(graph.nodes('user'))``, ``I = len(graph.nodes('item'))``).

    Shapes:
        - **forward**: ``[U, K, d]``, ``[I, K, d]`` → ``[U, K, d]``, ``[I, K, d]``
    """
    propagates = True

    def forward(self, user: Tensor, item: Tensor,
                graph: SampledGraph | None = None) -> tuple[Tensor, Tensor]:
        raise NotImplementedError


class EmbeddingEncoder(ChunkEncoder):
    """The paper's ID chunks: the ego embeddings themselves."""
    propagates = False

    def forward(self, user: Tensor, item: Tensor,
                graph: SampledGraph | None = None) -> tuple[Tensor, Tensor]:
        return user, item


class _LayerCombination(ChunkEncoder):
    """Holds the ``alpha`` buffer and sums ``alpha_l x^(l)`` over the layers."""
    def __init__(self, num_layers: int, layer_weights: Sequence[float] | None) -> None:
        super().__init__()
        if not isinstance(num_layers, int) or num_layers < 0:
            raise ConfigError(f'encoder_layers must be an int >= 0 (got {num_layers!r})')
        self.num_layers = num_layers
        self.register_buffer('alpha', combination_weights(num_layers, layer_weights),
                             persistent=False)

    def combine(self, layers: list[Tensor]) -> Tensor:
        return sum(a * x for a, x in zip(self.alpha, layers))


class LightGCNEncoder(_LayerCombination):
    r"""Weight-free LightGCN propagation of the ID chunks over the training user–item graph,
    as in PyG's :class:`~torch_geometric.nn.models.LightGCN` (with the CSR product of
    :class:`addrl_graph.nn.baselines.LightGCNRanker`). Each of the ``K * d`` columns propagates on
    its own, so chunks never mix. On a sampled graph the edge ``s → t`` weighs
    :math:`\frac{D_t}{n_t} \frac{1}{\sqrt{D_s D_t}}` with the full-graph degrees :math:`D`
    and :math:`n_t` sampled neighbours of :math:`t` (:meth:`sampled_adjacency`).

    Args:
        num_users (int): number of users :math:`U`.
        num_items (int): number of items :math:`I`.
        edge_index (torch.Tensor): ``[2, E]`` training user → item edges (local item indices).
        num_layers (int): propagation layers :math:`L`. (default: :obj:`2`)
        layer_weights (list[float], optional): :math:`\alpha_0 … \alpha_L`; uniform when
            :obj:`None`.

    Shapes:
        - **forward**: ``[U, K, d]``, ``[I, K, d]`` → ``[U, K, d]``, ``[I, K, d]``
        - **degree**: ``[U + I]`` full-graph degrees, users then items
    """
    def __init__(self, num_users: int, num_items: int, edge_index: Tensor, num_layers: int = 2,
                 layer_weights: Sequence[float] | None = None) -> None:
        super().__init__(num_layers, layer_weights)
        self.num_users, self.num_items = int(num_users), int(num_items)
        edge_index = edge_index.long()
        self.register_buffer('edge_index', edge_index, persistent=False)
        degree = torch.cat([torch.bincount(edge_index[0], minlength=self.num_users),
                            torch.bincount(edge_index[1], minlength=self.num_items)])
        self.register_buffer('degree', degree.float(), persistent=False)
        self._adj: Tensor | None = None

    def adjacency(self) -> Tensor:
        """The normalised ``[U + I, U + I]`` CSR adjacency on the buffers' device (cached)."""
        device = self.edge_index.device
        if self._adj is None or self._adj.device != device:
            self._adj = normalized_adjacency(self.edge_index, self.num_users, self.num_items)
        return self._adj

    def __getstate__(self) -> dict:
        return {**super().__getstate__(), '_adj': None}  # a CSR tensor cannot be deep-copied

    def sampled_adjacency(self, graph: SampledGraph) -> Tensor:
        """The ``[U + I, U + I]`` CSR adjacency of a sampled graph (its users, then its items),
        ``adj[t, s]`` the weight of the message ``s → t``."""
        users, items = graph.nodes('user'), graph.nodes('item')
        U = users.numel()
        ui, iu = graph.edges(INTERACTS), graph.edges(REV_INTERACTS)
        source = torch.cat([ui[0], iu[0] + U])
        target = torch.cat([ui[1] + U, iu[1]])
        degree = torch.cat([self.degree[users], self.degree[self.num_users + items]])
        weight = sampling_scale(target, degree) * (degree[source] * degree[target]).rsqrt()
        return sparse_csr(torch.stack([target, source]), weight, U + items.numel())

    def forward(self, user: Tensor, item: Tensor,
                graph: SampledGraph | None = None) -> tuple[Tensor, Tensor]:
        U, K, d = user.shape
        x = torch.cat([user.reshape(U, K * d), item.reshape(item.size(0), K * d)])
        if graph is None:
            adj, spmm = self.adjacency(), symmetric_spmm
        else:
            adj, spmm = self.sampled_adjacency(graph), torch.sparse.mm
        layers = [x]
        for _ in range(self.num_layers):
            layers.append(spmm(adj, layers[-1]))
        out = self.combine(layers)
        return out[:U].view(U, K, d), out[U:].view(-1, K, d)


class HeteroGNNEncoder(_LayerCombination):
    r"""A GNN with weights over the heterogeneous graph (users, items, attribute values), run
    on the chunk-expanded graph so that every ``d × d`` weight is shared by all chunks and no
    chunk mixes with another. Layers are separated by a leaky ReLU (slope 0.2).

    - ``conv='gcn'``: :class:`~torch_geometric.nn.conv.GCNConv` on the homogeneous view
      (all edges in both directions, self-loops, symmetric normalisation computed once).
    - ``conv='sage'``: :class:`~torch_geometric.nn.conv.HeteroConv` with one
      :class:`~torch_geometric.nn.conv.SAGEConv` (mean aggregation) per edge type, summed.

    On a sampled graph ``gcn`` keeps the full graph's normalisation (buffer ``gcn_degree``)
    times the sampling scale of each relation (buffers ``in_degree_<r>``), and ``sage``
    averages over the sampled neighbours.

    Args:
        num_users (int): number of users :math:`U`.
        num_items (int): number of items :math:`I`.
        edge_index (torch.Tensor): ``[2, E]`` training user → item edges.
        item_attr (torch.Tensor): ``[I, A]`` value index of every item and attribute.
        attribute_names (list[str]): the :math:`A` attributes; chunk :math:`k < A` belongs to
            ``attribute_names[k]``.
        num_values (list[int]): :math:`V_a` per attribute.
        num_chunks (int): :math:`K` (at least :math:`A`).
        d_chunk (int): :math:`d`.
        conv (str): ``'gcn'`` or ``'sage'``. (default: :obj:`'sage'`)
        num_layers (int): message-passing layers :math:`L`. (default: :obj:`2`)
        layer_weights (list[float], optional): :math:`\alpha_0 … \alpha_L`; uniform when
            :obj:`None`.
        attribute_aware (bool): an item's chunk of attribute :math:`a` exchanges messages with
            its value node of :math:`a` only. (default: :obj:`False`)

    Shapes:
        - **forward**: ``[U, K, d]``, ``[I, K, d]`` → ``[U, K, d]``, ``[I, K, d]``
        - **attribute_embedding[a].weight**: ``[V_a, K * d]``
    """
    def __init__(self, num_users: int, num_items: int, edge_index: Tensor, item_attr: Tensor,
                 attribute_names: list[str], num_values: list[int], num_chunks: int,
                 d_chunk: int, conv: str = 'sage', num_layers: int = 2,
                 layer_weights: Sequence[float] | None = None,
                 attribute_aware: bool = False) -> None:
        super().__init__(num_layers, layer_weights)
        if conv not in ('gcn', 'sage'):
            raise ConfigError(f"conv must be 'gcn' or 'sage' (got {conv!r})")
        if item_attr.shape != (num_items, len(attribute_names)):
            raise ConfigError(f'item_attr must be [{num_items}, {len(attribute_names)}] '
                              f'(got {list(item_attr.shape)})')
        self.conv, self.attribute_aware = conv, bool(attribute_aware)
        self.num_users, self.num_items = int(num_users), int(num_items)
        self.attribute_names, self.num_values = list(attribute_names), [int(v) for v in num_values]
        self.num_chunks, self.d_chunk = K, d = int(num_chunks), int(d_chunk)
        self.attribute_embedding = nn.ModuleDict(
            {a: nn.Embedding(v, K * d) for a, v in zip(self.attribute_names, self.num_values)})
        node_relations = self._node_relations(edge_index.long(), item_attr.long())
        self.edge_types = list(node_relations)
        relations = {et: chunk_edges(edges, K, self._chunks(et))
                     for et, edges in node_relations.items()}
        if conv == 'gcn':
            self._register_homogeneous(relations)
            sizes = self._sizes()
            for i, ((_, _, target), edges) in enumerate(node_relations.items()):
                in_degree = torch.bincount(edges[1], minlength=sizes[target]).float()
                self.register_buffer(f'in_degree_{i}', in_degree, persistent=False)
            self.layers = nn.ModuleList([GCNConv(d, d, add_self_loops=False, normalize=False)
                                         for _ in range(num_layers)])
        else:
            for i, edges in enumerate(relations.values()):
                self.register_buffer(f'edges_{i}', edges, persistent=False)
            self.layers = nn.ModuleList([
                HeteroConv({et: SAGEConv((d, d), d) for et in self.edge_types}, aggr='sum')
                for _ in range(num_layers)])

    @property
    def node_types(self) -> list[str]:
        return ['user', 'item'] + self.attribute_names

    def _sizes(self) -> dict[str, int]:
        return dict(zip(self.node_types, [self.num_users, self.num_items] + self.num_values))

    def _node_relations(self, edge_index: Tensor, item_attr: Tensor) -> dict[EdgeType, Tensor]:
        """Node-level edges of every relation, both directions."""
        items = torch.arange(self.num_items)
        return with_reverse({INTERACTS: edge_index, **{
            has_edge(name): torch.stack([items, item_attr[:, col]])
            for col, name in enumerate(self.attribute_names)}})

    def _chunks(self, edge_type: EdgeType) -> list[int] | None:
        """The chunks an edge of ``edge_type`` connects: all, or with ``attribute_aware`` and
        an attribute-value end, that attribute's chunk."""
        names = [t for t in (edge_type[0], edge_type[2]) if t in self.attribute_names]
        return [self.attribute_names.index(names[0])] if self.attribute_aware and names else None

    def _register_homogeneous(self, relations: dict[EdgeType, Tensor]) -> None:
        """One chunk-expanded node set (users, items, values of each attribute, in that order),
        with self-loops and GCN normalisation computed once."""
        K = self.num_chunks
        sizes = self._sizes()
        self.node_offset = _offsets(sizes)
        edges = torch.cat([edges + torch.tensor([[self.node_offset[s] * K],
                                                 [self.node_offset[t] * K]])
                           for (s, _, t), edges in relations.items()], dim=1)
        num_nodes = sum(sizes.values()) * K
        loops = torch.arange(num_nodes).repeat(2, 1)
        edges = torch.cat([edges, loops], dim=1)
        degree = torch.bincount(edges[1], minlength=num_nodes).float()
        edges, weight = gcn_norm(edges, None, num_nodes, add_self_loops=False)
        self.register_buffer('gcn_edge_index', edges, persistent=False)
        self.register_buffer('gcn_edge_weight', weight, persistent=False)
        self.register_buffer('gcn_degree', degree, persistent=False)

    def _sampled_gcn_edges(self, graph: SampledGraph) -> tuple[Tensor, Tensor]:
        """Chunk-expanded homogeneous edges of ``graph`` (self-loops included) and their
        weights: full-graph normalisation times the sampling scale of their relation."""
        K = self.num_chunks
        nodes = {t: graph.nodes(t) for t in self.node_types}
        offset = _offsets({t: ids.numel() for t, ids in nodes.items()})
        num_nodes = sum(ids.numel() for ids in nodes.values())
        edges = [torch.arange(num_nodes * K, device=self.gcn_degree.device).repeat(2, 1)]
        scale = [self.gcn_degree.new_ones(num_nodes * K)]
        for i, (s, r, t) in enumerate(self.edge_types):
            local = graph.edges((s, r, t))
            chunks = self._chunks((s, r, t))
            in_degree = getattr(self, f'in_degree_{i}')[nodes[t]]
            scale.append(sampling_scale(local[1], in_degree).repeat_interleave(
                len(chunks) if chunks else K))
            shift = torch.tensor([[offset[s]], [offset[t]]], device=local.device)
            edges.append(chunk_edges(local + shift, K, chunks))
        edge_index = torch.cat(edges, dim=1)
        glob = torch.cat([ids + self.node_offset[t] for t, ids in nodes.items()])
        chunk = torch.arange(K, device=glob.device)
        degree = self.gcn_degree[(glob.unsqueeze(-1) * K + chunk).view(-1)]  # full graph's
        weight = torch.cat(scale) * (degree[edge_index[0]] * degree[edge_index[1]]).rsqrt()
        return edge_index, weight

    def _edges(self, graph: SampledGraph | None) -> Any:
        """What a layer propagates over: ``(edge_index, edge_weight)`` of the homogeneous
        chunk-expanded graph (``gcn``) or chunk-expanded edges per relation (``sage``), of the
        whole graph or of ``graph``."""
        if self.conv == 'gcn':
            return ((self.gcn_edge_index, self.gcn_edge_weight) if graph is None
                    else self._sampled_gcn_edges(graph))
        if graph is None:
            return {et: getattr(self, f'edges_{i}') for i, et in enumerate(self.edge_types)}
        return {et: chunk_edges(graph.edges(et), self.num_chunks, self._chunks(et))
                for et in self.edge_types}

    def _check_sampled(self, graph: SampledGraph) -> None:
        missing = [a for a in self.attribute_names if a not in graph.node]
        if missing:
            raise ConfigError(f'the {self.conv} encoder needs the attribute-value nodes in the '
                              'sampled graph: build the loader with attribute_neighbors=True '
                              f'(got a graph without {missing})')

    def forward(self, user: Tensor, item: Tensor,
                graph: SampledGraph | None = None) -> tuple[Tensor, Tensor]:
        K, d = self.num_chunks, self.d_chunk
        if graph is not None:
            self._check_sampled(graph)
        x = {'user': user, 'item': item,
             **{a: (emb.weight if graph is None else emb(graph.nodes(a))).view(-1, K, d)
                for a, emb in self.attribute_embedding.items()}}
        x = {t: v.reshape(-1, d) for t, v in x.items()}                 # [N * K, d]
        edges = self._edges(graph)
        layers = [x]
        for i, layer in enumerate(self.layers):
            h = self._layer(layer, layers[-1], edges)
            if i < self.num_layers - 1:
                h = {t: F.leaky_relu(v, negative_slope=0.2) for t, v in h.items()}
            layers.append(h)
        out = {t: self.combine([h[t] for h in layers]).view(-1, K, d) for t in ('user', 'item')}
        return out['user'], out['item']

    def _layer(self, layer: nn.Module, x: dict[str, Tensor], edges: Any) -> dict[str, Tensor]:
        if self.conv == 'sage':
            return layer(x, edges)
        types = self.node_types
        h = layer(torch.cat([x[t] for t in types]), *edges)
        return dict(zip(types, h.split([x[t].size(0) for t in types])))


def build_encoder(name: str, num_users: int, num_items: int, edge_index: Tensor | None = None,
                  item_attr: Tensor | None = None, attribute_names: list[str] | None = None,
                  num_values: list[int] | None = None, num_chunks: int = 1, d_chunk: int = 32,
                  num_layers: int = 2, layer_weights: Sequence[float] | None = None,
                  attribute_aware: bool = False) -> ChunkEncoder:
    """The encoder ``name`` (one of :data:`ENCODERS`); graph encoders need ``edge_index``
    (training user → item edges) and ``gcn``/``sage`` also ``item_attr``."""
    if name not in ENCODERS:
        raise ConfigError(f'id_encoder must be one of {ENCODERS} (got {name!r})')
    if name == 'embedding':
        return EmbeddingEncoder()
    if edge_index is None:
        raise ConfigError(f'id_encoder {name!r} propagates over the graph: build the model with '
                          'ADDRL.from_graph (or pass train_edge_index)')
    if name == 'lightgcn':
        return LightGCNEncoder(num_users, num_items, edge_index, num_layers, layer_weights)
    if item_attr is None:
        raise ConfigError(f'id_encoder {name!r} needs the items\' attribute values (item_attr)')
    return HeteroGNNEncoder(num_users, num_items, edge_index, item_attr, attribute_names or [],
                            num_values or [], num_chunks, d_chunk, conv=name,
                            num_layers=num_layers, layer_weights=layer_weights,
                            attribute_aware=attribute_aware)
