r"""``sage``: :class:`~torch_geometric.nn.conv.HeteroConv` with one
:class:`~torch_geometric.nn.conv.SAGEConv` (mean aggregation) per relation of the
chunk-expanded heterogeneous graph, summed; on a sampled graph it averages over the sampled
neighbours (a mean needs no sampling scale)."""
from __future__ import annotations

from torch import Tensor, nn
from torch_geometric.nn import HeteroConv, SAGEConv

from addrl_graph.data.train_graph import EdgeType
from addrl_graph.loader.batch import SampledGraph
from addrl_graph.nn.encoders.base import Graph
from addrl_graph.nn.encoders.hetero import HeteroChunkEncoder
from addrl_graph.nn.sparse import chunk_edges


class SAGEEncoder(HeteroChunkEncoder):
    """See the module docstring and :class:`HeteroChunkEncoder` for the arguments."""
    def make_layer(self) -> nn.Module:
        d = self.sizes.d_chunk
        return HeteroConv({et: SAGEConv((d, d), d) for et in self.edge_types}, aggr='sum')

    def propagation(self, graph: Graph) -> dict[EdgeType, Tensor]:
        """Chunk-expanded edges per relation; the whole graph's are memoised on it."""
        def build() -> dict[EdgeType, Tensor]:
            return {et: chunk_edges(graph.edges(et), self.sizes.num_chunks, self.chunks(et))
                    for et in self.edge_types}
        if isinstance(graph, SampledGraph):
            return build()
        return graph.cached(('sage', self.sizes.num_chunks, self.attribute_aware), build)

    def layer(self, layer: nn.Module, x: dict[str, Tensor],
              edges: dict[EdgeType, Tensor]) -> dict[str, Tensor]:
        return layer(x, edges)
