r"""What every ID-chunk encoder shares: the ego ID embeddings and the layer combination.

An encoder holds the ego embeddings of users and items (``[U, K * d]`` and ``[I, K * d]``, Eq.
2 chunks them) and maps a graph to the ID chunks of its nodes, ``forward(graph) -> (user
[N_u, K, d], item [N_i, K, d])``, as PyG's :meth:`LightGCN.get_embedding(edge_index)` does:

- on a :class:`~addrl_graph.data.train_graph.TrainGraph`, every user and every item
  (``N_u = U``, ``N_i = I``);
- on a :class:`~addrl_graph.loader.batch.SampledGraph`, the nodes of that sub-graph (its seeds
  first), reading the ego rows of those nodes only.

Shapes legend: ``U`` users, ``I`` items, ``K`` chunks, ``d`` chunk width, ``A`` attributes,
``V_a`` values of attribute a, ``L`` layers.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from torch import Tensor, nn

from addrl_graph.data.train_graph import TrainGraph
from addrl_graph.errors import ConfigError
from addrl_graph.loader.batch import SampledGraph
from addrl_graph.nn.sparse import layer_weights

Graph = TrainGraph | SampledGraph


@dataclass(frozen=True)
class ChunkSizes:
    """The sizes an encoder is built for.

    Attributes:
        num_users / num_items: ``U`` / ``I``.
        num_chunks / d_chunk: ``K`` / ``d``.
        attribute_names: the ``A`` attributes; chunk ``k < A`` belongs to attribute ``k``.
        num_values: ``V_a`` per attribute.
    """
    num_users: int
    num_items: int
    num_chunks: int
    d_chunk: int
    attribute_names: tuple[str, ...] = ()
    num_values: tuple[int, ...] = ()


class ChunkEncoder(nn.Module):
    """Base class: ego ID embeddings in, ID chunks out (see the module docstring).

    Attributes:
        propagates: whether a node's output depends on other nodes. An encoder that does
            not offers ``rows(user_id, item_id)``, which a training step reads instead.

    Shapes:
        - **forward**: a graph → ``[N_u, K, d]``, ``[N_i, K, d]``
        - :meth:`ego`: a graph → ``[N_u, K, d]``, ``[N_i, K, d]`` ego chunks
    """
    propagates = True

    def __init__(self, sizes: ChunkSizes) -> None:
        super().__init__()
        self.sizes = sizes
        width = sizes.num_chunks * sizes.d_chunk
        self.user_embedding = nn.Embedding(sizes.num_users, width)
        self.item_embedding = nn.Embedding(sizes.num_items, width)

    def ego(self, graph: Graph) -> tuple[Tensor, Tensor]:
        """The ego chunks of the graph's users and items."""
        K, d = self.sizes.num_chunks, self.sizes.d_chunk
        if isinstance(graph, SampledGraph):
            user = self.user_embedding(graph.nodes('user'))
            item = self.item_embedding(graph.nodes('item'))
        else:
            user, item = self.user_embedding.weight, self.item_embedding.weight
        return user.view(-1, K, d), item.view(-1, K, d)

    def forward(self, graph: Graph) -> tuple[Tensor, Tensor]:
        raise NotImplementedError


class EmbeddingEncoder(ChunkEncoder):
    """The paper's ID chunks: the ego embeddings themselves. A training step reads the batch's
    rows straight from the tables (:meth:`rows`), with no graph at all."""
    propagates = False

    def forward(self, graph: Graph) -> tuple[Tensor, Tensor]:
        return self.ego(graph)

    def rows(self, user_id: Tensor, item_id: Tensor) -> tuple[Tensor, Tensor]:
        """ID chunks of ``[B]`` users and ``[M]`` items (any order, repeats allowed)."""
        K, d = self.sizes.num_chunks, self.sizes.d_chunk
        return (self.user_embedding(user_id).view(-1, K, d),
                self.item_embedding(item_id).view(-1, K, d))


class LayerCombination(ChunkEncoder):
    r"""An encoder of ``L`` layers whose output is :math:`\sum_{l=0}^{L} \alpha_l
    \mathbf{x}^{(l)}` (buffer ``alpha``, uniform unless ``layer_weights`` is given)."""
    def __init__(self, sizes: ChunkSizes, num_layers: int = 2,
                 layer_weights_: Sequence[float] | None = None) -> None:
        super().__init__(sizes)
        if not isinstance(num_layers, int) or num_layers < 0:
            raise ConfigError(f'encoder_layers must be an int >= 0 (got {num_layers!r})')
        self.num_layers = num_layers
        self.register_buffer('alpha', layer_weights(num_layers, layer_weights_),
                             persistent=False)

    def combine(self, layers: list[Tensor]) -> Tensor:
        return sum(a * x for a, x in zip(self.alpha, layers))
