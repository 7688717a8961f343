r"""Sparse kernels shared by the ID encoders and the comparison models.

Why by hand: PyG's :class:`~torch_geometric.nn.conv.LGConv` gathers and scatters over the edges
and recomputes the normalisation at every layer; one product with a normalised
``torch.sparse_csr`` adjacency built once per graph is about 5x faster per training batch on
CPU with the same result, and PyTorch's generic sparse backward re-sorts the CSR indices at
every call, which :func:`symmetric_spmm` avoids for a symmetric matrix.

Shapes legend: ``U`` users, ``I`` items, ``E`` edges, ``N`` nodes, ``K`` chunks, ``D`` columns.
"""
from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor
from torch_geometric.nn.conv.gcn_conv import gcn_norm

from addrl_graph.errors import ConfigError


def to_homogeneous_edges(edge_index: Tensor, num_users: int) -> Tensor:
    """User → item ``[2, E]`` (local item indices) → both directions over homogeneous node
    indices (users ``0..U-1``, items ``U..U+I-1``), ``[2, 2E]``."""
    user, item = edge_index[0], edge_index[1] + num_users
    return torch.stack([torch.cat([user, item]), torch.cat([item, user])])


def sparse_csr(index: Tensor, value: Tensor, num_nodes: int) -> Tensor:
    """The ``[n, n]`` ``torch.sparse_csr`` matrix with ``value[e]`` at ``(index[0, e],
    index[1, e])`` (duplicates add up)."""
    coo = torch.sparse_coo_tensor(index, value, (num_nodes, num_nodes),
                                  check_invariants=False).coalesce()
    with warnings.catch_warnings():
        warnings.filterwarnings('ignore', message='Sparse CSR tensor support is in beta',
                                category=UserWarning)
        return coo.to_sparse_csr()


def normalized_adjacency(edge_index: Tensor, num_users: int, num_items: int) -> Tensor:
    r"""The symmetric normalised bipartite adjacency :math:`D^{-1/2} A D^{-1/2}` of LightGCN as
    a ``torch.sparse_csr`` matrix over homogeneous node indices, with the weights of PyG's
    :class:`~torch_geometric.nn.conv.LGConv` (duplicate edges add up, isolated nodes get zero
    rows).

    Shapes:
        - **edge_index** :math:`[2, E]` user → item edges → :math:`[U + I, U + I]`
    """
    homogeneous = to_homogeneous_edges(edge_index, num_users)
    num_nodes = num_users + num_items
    homogeneous, weight = gcn_norm(homogeneous, None, num_nodes, add_self_loops=False)
    # LGConv aggregates at the target (row 1): the matrix multiplied from the left is adj_t.
    return sparse_csr(homogeneous.flip(0), weight, num_nodes)


class _SymmetricSpMM(torch.autograd.Function):
    """``adj @ x`` for a symmetric sparse ``adj``, whose backward reuses ``adj`` instead of
    transposing it."""
    @staticmethod
    def forward(ctx: Any, adj: Tensor, x: Tensor) -> Tensor:
        ctx.adj = adj
        return torch.sparse.mm(adj, x)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[None, Tensor]:
        return None, torch.sparse.mm(ctx.adj, grad)


def symmetric_spmm(adj: Tensor, x: Tensor) -> Tensor:
    """``[N, N]`` symmetric sparse ``adj`` times ``[N, D]`` dense ``x`` (no gradient to
    ``adj``)."""
    return _SymmetricSpMM.apply(adj, x)


def layer_weights(num_layers: int, weights: Sequence[float] | None = None) -> Tensor:
    """Layer weights :math:`\\alpha_0 … \\alpha_L`: ``weights`` as given, or uniform
    :math:`1/(L+1)` (LightGCN's default)."""
    if weights is None:
        return torch.full((num_layers + 1,), 1.0 / (num_layers + 1))
    if len(weights) != num_layers + 1:
        raise ConfigError(f'layer_weights must hold encoder_layers + 1 = {num_layers + 1} '
                          f'numbers (got {list(weights)})')
    return torch.tensor([float(w) for w in weights])


def lightgcn_propagate(adj: Tensor, x: Tensor, alpha: Tensor,
                       spmm: Callable[[Tensor, Tensor], Tensor] = symmetric_spmm) -> Tensor:
    r"""LightGCN's layer combination :math:`\sum_{l=0}^{L} \alpha_l A^l \mathbf{x}`, the loop
    of PyG's :meth:`LightGCN.get_embedding` with each layer one sparse product.

    Shapes:
        - **adj** :math:`[N, N]`, **x** :math:`[N, D]`, **alpha** :math:`[L + 1]` →
          :math:`[N, D]`
    """
    out = x * alpha[0]
    for layer in range(alpha.numel() - 1):
        x = spmm(adj, x)
        out = out + x * alpha[layer + 1]
    return out


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
