r"""``gcn``: PyG's :class:`~torch_geometric.nn.conv.GCNConv` over the homogeneous view of the
chunk-expanded heterogeneous graph (all relations in both directions, self-loops, symmetric
normalisation). On a sampled graph the messages keep the full graph's normalisation times the
sampling scale of their relation, (full in-degree) / (sampled in-degree) of the target, an
unbiased estimate of the full sum."""
from __future__ import annotations

import torch
from torch import Tensor, nn
from torch_geometric.nn import GCNConv
from torch_geometric.nn.conv.gcn_conv import gcn_norm

from addrl_graph.loader.batch import SampledGraph
from addrl_graph.nn.encoders.base import Graph
from addrl_graph.nn.encoders.hetero import HeteroChunkEncoder
from addrl_graph.nn.sparse import chunk_edges, sampling_scale


def _offsets(sizes: dict[str, int]) -> dict[str, int]:
    """Start of every node type in a homogeneous index that lists the types in order."""
    starts = torch.tensor([0] + list(sizes.values())[:-1]).cumsum(0).tolist()
    return dict(zip(sizes, starts))


class GCNEncoder(HeteroChunkEncoder):
    """See the module docstring and :class:`HeteroChunkEncoder` for the arguments."""
    def make_layer(self) -> nn.Module:
        d = self.sizes.d_chunk
        return GCNConv(d, d, add_self_loops=False, normalize=False)

    def _homogeneous_edges(self, graph: Graph) -> tuple[Tensor, Tensor, int]:
        """Chunk-expanded homogeneous edges of ``graph`` with self-loops, the sampling scale of
        each, and the number of chunk-expanded nodes."""
        K = self.sizes.num_chunks
        nodes = {t: graph.nodes(t) for t in self.node_types}
        offset = _offsets({t: ids.numel() for t, ids in nodes.items()})
        num_nodes = sum(ids.numel() for ids in nodes.values()) * K
        device = nodes['user'].device
        edges, scale = [], []
        for edge_type in self.edge_types:
            s, _, t = edge_type
            local = graph.edges(edge_type)
            chunks = self.chunks(edge_type)
            if isinstance(graph, SampledGraph):
                scale.append(sampling_scale(local[1], graph.in_degree(edge_type))
                             .repeat_interleave(len(chunks) if chunks else K))
            shift = torch.tensor([[offset[s]], [offset[t]]], device=device)
            edges.append(chunk_edges(local + shift, K, chunks))
        loops = torch.arange(num_nodes, device=device).repeat(2, 1)
        scale = [torch.cat(scale + [torch.ones(num_nodes, device=device)])] if scale else []
        return torch.cat(edges + [loops], dim=1), (scale[0] if scale else None), num_nodes

    def propagation(self, graph: Graph) -> tuple[Tensor, Tensor]:
        """``(edge_index, edge_weight)`` of the normalised homogeneous graph; the whole graph's
        is memoised on it."""
        if not isinstance(graph, SampledGraph):
            def build() -> tuple[Tensor, Tensor]:
                edge_index, _, num_nodes = self._homogeneous_edges(graph)
                return gcn_norm(edge_index, None, num_nodes, add_self_loops=False)
            return graph.cached(('gcn', self.sizes.num_chunks, self.attribute_aware), build)
        edge_index, scale, _ = self._homogeneous_edges(graph)
        degree = self.chunk_degree(graph).view(-1)
        return edge_index, scale * (degree[edge_index[0]] * degree[edge_index[1]]).rsqrt()

    def layer(self, layer: nn.Module, x: dict[str, Tensor],
              edges: tuple[Tensor, Tensor]) -> dict[str, Tensor]:
        types = self.node_types
        h = layer(torch.cat([x[t] for t in types]), *edges)
        return dict(zip(types, h.split([x[t].size(0) for t in types])))
