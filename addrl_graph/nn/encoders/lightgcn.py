r"""LightGCN propagation of the ID chunks (He et al., SIGIR 2020) over the training user–item
edges: :math:`\mathbf{x}^{(l+1)} = D^{-1/2} A D^{-1/2} \mathbf{x}^{(l)}`, weights of PyG's
:class:`~torch_geometric.nn.conv.LGConv`, each of the ``K * d`` columns on its own so chunks
never mix."""
from __future__ import annotations

import torch
from torch import Tensor

from addrl_graph.data.schema import INTERACTS, REV_INTERACTS
from addrl_graph.loader.batch import SampledGraph
from addrl_graph.nn.encoders.base import Graph, LayerCombination
from addrl_graph.nn.sparse import (lightgcn_propagate, normalized_adjacency, sampling_scale,
                                   sparse_csr, symmetric_spmm)


def lightgcn_adjacency(graph) -> Tensor:
    """The whole graph's ``[U + I, U + I]`` normalised CSR adjacency, memoised on the graph."""
    return graph.cached('lightgcn_adjacency', lambda: normalized_adjacency(
        graph.edge_index, graph.num_users, graph.num_items))


def sampled_adjacency(graph: SampledGraph) -> Tensor:
    r"""The ``[U + I, U + I]`` CSR adjacency of a sampled graph (its users, then its items),
    ``adj[t, s]`` the weight of the message ``s → t``: :math:`\frac{D_t}{n_t}
    \frac{1}{\sqrt{D_s D_t}}` with the full-graph degrees :math:`D` and :math:`n_t` sampled
    neighbours of :math:`t`."""
    U = graph.nodes('user').numel()
    ui, iu = graph.edges(INTERACTS), graph.edges(REV_INTERACTS)
    source = torch.cat([ui[0], iu[0] + U])
    target = torch.cat([ui[1] + U, iu[1]])
    degree = torch.cat([graph.in_degree(REV_INTERACTS), graph.in_degree(INTERACTS)])
    weight = sampling_scale(target, degree) * (degree[source] * degree[target]).rsqrt()
    return sparse_csr(torch.stack([target, source]), weight, degree.numel())


class LightGCNEncoder(LayerCombination):
    r"""Weight-free LightGCN propagation of the ego chunks.

    Args:
        sizes (ChunkSizes): users, items, chunks and their width.
        num_layers (int): propagation layers :math:`L`. (default: :obj:`2`)
        layer_weights_ (list[float], optional): :math:`\alpha_0 … \alpha_L`; uniform when
            :obj:`None`.

    Shapes:
        - **forward**: a graph → ``[N_u, K, d]``, ``[N_i, K, d]``
    """
    def forward(self, graph: Graph) -> tuple[Tensor, Tensor]:
        user, item = self.ego(graph)
        U, K, d = user.shape
        x = torch.cat([user.reshape(U, K * d), item.reshape(item.size(0), K * d)])
        if isinstance(graph, SampledGraph):
            out = lightgcn_propagate(sampled_adjacency(graph), x, self.alpha, torch.sparse.mm)
        else:
            out = lightgcn_propagate(lightgcn_adjacency(graph), x, self.alpha, symmetric_spmm)
        return out[:U].view(U, K, d), out[U:].view(-1, K, d)
