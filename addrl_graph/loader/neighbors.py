r"""Pure-PyTorch multi-hop neighbour sampling over the training graph, in PyG's layout.

:class:`NeighborIndex` keeps one CSC index per relation of the training graph (for every
target node, the source nodes that send it messages) and expands seed nodes hop by hop as
PyG's :class:`~torch_geometric.sampler.NeighborSampler` does (one sub-graph per batch): at hop
:math:`h` every node first reached at hop :math:`h - 1` (the seeds at hop 1) draws up to
``num_neighbors[h - 1]`` incoming edges of each relation, uniformly without replacement
(``-1``: all of them, ``0``: none); the sources not seen before join the sub-graph and form the
next frontier. Everything is vectorised over the frontier (no Python loop per node).

Relations: the training user–item edges in both directions and, when the graph holds attribute
value nodes, item → value and value → item edges. An item has exactly one value per
attribute, so any fan-out other than ``0`` keeps it.

Shapes legend: ``F`` frontier nodes of a type, ``E_r`` sampled edges of relation ``r``,
``N_t`` sub-graph nodes of type ``t``.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor
from torch_geometric.data import HeteroData

from addrl_graph.data.schema import INTERACTS, TRAIN, has_edge, split_edges
from addrl_graph.errors import ConfigError

EdgeType = tuple[str, str, str]
#: ``(node, row, col, num_sampled_nodes)``, see :meth:`NeighborIndex.sample`.
Sample = tuple[dict[str, Tensor], dict[EdgeType, Tensor], dict[EdgeType, Tensor],
               dict[str, list[int]]]


def check_num_neighbors(num_neighbors: Sequence[int] | None) -> list[int]:
    """``num_neighbors`` as a list of fan-outs per hop, each an int ``>= -1`` (``-1``: all
    neighbours, ``0``: none); ``None`` is ``[]``."""
    hops = list(num_neighbors or [])
    if not all(isinstance(n, int) and not isinstance(n, bool) and n >= -1 for n in hops):
        raise ConfigError(f'num_neighbors must be a list of ints >= -1, one per hop '
                          f'(-1: all neighbours) (got {num_neighbors!r})')
    return hops


def samples_neighbors(num_neighbors: Sequence[int] | None) -> bool:
    """Whether ``num_neighbors`` reaches beyond the seed nodes (some hop is not ``0``)."""
    return any(n != 0 for n in check_num_neighbors(num_neighbors))


def with_reverse(edges: dict[EdgeType, Tensor]) -> dict[EdgeType, Tensor]:
    """Every relation ``(s, r, t)`` followed by its reverse ``(t, rev_r, s)``."""
    out = {}
    for (s, r, t), edge_index in edges.items():
        out[(s, r, t)], out[(t, f'rev_{r}', s)] = edge_index, edge_index.flip(0)
    return out


def relations(graph: HeteroData) -> dict[EdgeType, Tensor]:
    """Node-level ``[2, E_r]`` (source, target) edges of every relation of ``graph``: its
    ``TRAIN`` user → item edges both ways and, for every attribute node type, item → value and
    value → item."""
    return with_reverse({INTERACTS: split_edges(graph, TRAIN), **{
        has_edge(name): graph[has_edge(name)].edge_index
        for name in graph.node_types if name not in ('user', 'item')}})


def sample_csc(colptr: Tensor, row: Tensor, targets: Tensor, fanout: int,
               generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """Draw up to ``fanout`` incoming edges of every target without replacement.

    A target with more than ``fanout`` edges shuffles their offsets (one sort of
    ``target + U[0, 1)`` keys, which keeps the targets grouped) and keeps the first ``fanout``;
    the others keep all their edges.

    Args:
        colptr: ``[N_dst + 1]`` CSC pointers; ``row``: ``[E]`` source of every edge.
        targets: ``[F]`` target nodes (global ids).
        fanout: edges per target; ``-1`` keeps all.

    Returns:
        ``(source [S], target_position [S])``: global source ids and positions into
        ``targets``.
    """
    start = colptr[targets]
    degree = colptr[targets + 1] - start
    position = torch.arange(targets.numel()).repeat_interleave(degree)       # per candidate
    offset = torch.arange(position.numel()) - (degree.cumsum(0) - degree)[position]
    picked = offset
    if fanout >= 0:
        capped = (degree > fanout)[position].nonzero().view(-1)
        keys = position[capped].double() + torch.rand(capped.numel(), generator=generator,
                                                      dtype=torch.float64)
        picked = offset.clone()
        picked[capped] = offset[capped[keys.argsort()]]
        keep = offset < fanout                   # rank within the target after the shuffle
        picked, position = picked[keep], position[keep]
    return row[start[position] + picked], position


class _NodeSet:
    """Global ids of one node type in sub-graph order; :meth:`add` appends unseen ids.

    ``local`` maps every global id of the type to its local index, ``-1`` when absent; it is
    shared between batches, and :meth:`release` restores it to all ``-1``.
    """
    def __init__(self, seeds: Tensor, local: Tensor) -> None:
        self.ids, self.local = seeds, local
        local[seeds] = torch.arange(seeds.numel())

    def add(self, ids: Tensor) -> Tensor:
        """Append the ids not yet present (sorted); return the local index of every id."""
        new = torch.unique(ids[self.local[ids] < 0])
        self.local[new] = torch.arange(self.ids.numel(), self.ids.numel() + new.numel())
        self.ids = torch.cat([self.ids, new])
        return self.local[ids]

    def release(self) -> None:
        self.local[self.ids] = -1


class NeighborIndex:
    r"""CSC indices of every relation of a training graph, for multi-hop sampling.

    Args:
        graph: the training graph (only ``TRAIN`` user–item edges, see
            :func:`addrl_graph.loader.link_loader.train_graph`); its attribute node types, if any, are
            sampled too.

    Shapes:
        - **colptr[r]** :math:`[N_{dst} + 1]`, **row[r]** :math:`[E]` per relation ``r``
        - **local[t]** :math:`[N_t]` scratch map from global to local ids, ``-1`` between calls
    """
    def __init__(self, graph: HeteroData) -> None:
        self.colptr: dict[EdgeType, Tensor] = {}
        self.row: dict[EdgeType, Tensor] = {}
        edges = relations(graph)
        self.local = {t: torch.full((graph[t].num_nodes,), -1)
                      for t in sorted({edge_type[2] for edge_type in edges})}
        for edge_type, edge_index in edges.items():
            target = edge_index[1].long()
            order = target.argsort(stable=True)
            count = torch.bincount(target, minlength=graph[edge_type[2]].num_nodes)
            self.colptr[edge_type] = torch.cat([count.new_zeros(1), count.cumsum(0)])
            self.row[edge_type] = edge_index[0].long()[order]

    def sample(self, seeds: dict[str, Tensor], num_neighbors: Sequence[int],
               generator: torch.Generator) -> Sample:
        """Expand ``seeds`` over ``len(num_neighbors)`` hops.

        Args:
            seeds: ``{node type: [S_t]}`` global ids, unique.
            num_neighbors: fan-out per hop (``-1``: all, ``0``: none).

        Returns:
            ``(node, row, col, num_sampled_nodes)`` as in
            :class:`~torch_geometric.sampler.HeteroSamplerOutput`: ``node[t]`` ``[N_t]`` global
            ids with the seeds first, ``row[r]`` / ``col[r]`` ``[E_r]`` local source / target
            indices (messages flow source → target, the target being the sampled node), and
            ``num_sampled_nodes[t]`` the nodes added per hop, seeds first.
        """
        empty = torch.empty(0, dtype=torch.long)
        nodes = {t: _NodeSet(seeds.get(t, empty), local) for t, local in self.local.items()}
        try:
            return self._expand(nodes, num_neighbors, generator)
        finally:
            for node_set in nodes.values():
                node_set.release()

    def _expand(self, nodes: dict[str, _NodeSet], num_neighbors: Sequence[int],
                generator: torch.Generator) -> Sample:
        empty = torch.empty(0, dtype=torch.long)
        counts = {t: [s.ids.numel()] for t, s in nodes.items()}
        frontier = {t: (0, s.ids) for t, s in nodes.items()}   # (local start, global ids)
        rows: dict[EdgeType, list[Tensor]] = {edge_type: [] for edge_type in self.colptr}
        cols: dict[EdgeType, list[Tensor]] = {edge_type: [] for edge_type in self.colptr}
        for fanout in num_neighbors:
            sizes = {t: s.ids.numel() for t, s in nodes.items()}
            for edge_type, colptr in self.colptr.items():
                src_type, _, dst_type = edge_type
                start, targets = frontier[dst_type]
                source, position = sample_csc(colptr, self.row[edge_type], targets, fanout,
                                              generator) if fanout else (empty, empty)
                rows[edge_type].append(nodes[src_type].add(source))
                cols[edge_type].append(start + position)
            frontier = {t: (sizes[t], s.ids[sizes[t]:]) for t, s in nodes.items()}
            for t, s in nodes.items():
                counts[t].append(s.ids.numel() - sizes[t])
        node = {t: s.ids for t, s in nodes.items()}
        return (node, {k: torch.cat(v) for k, v in rows.items()},
                {k: torch.cat(v) for k, v in cols.items()}, counts)
