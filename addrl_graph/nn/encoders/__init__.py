r"""ID-chunk encoders: turn the ego ID embeddings of users and items into the ID chunks of
AD-DRL, over the whole training graph or a batch's sampled neighbourhood (see
:mod:`addrl_graph.nn.encoders.base`).

- ``embedding``: the ego embeddings themselves (the paper's model).
- ``lightgcn``: weight-free LightGCN propagation over the training user–item edges.
- ``gcn``: GCN over the homogeneous view of users, items and attribute values.
- ``sage``: one GraphSAGE per relation of that heterogeneous graph.

Every encoder combines its layers as LightGCN does, :math:`\sum_{l} \alpha_l \mathbf{x}^{(l)}`,
and never mixes chunk :math:`k` with chunk :math:`j`. With every neighbour sampled for ``L``
hops the seeds' outputs on a sampled graph equal the whole graph's.
"""
from __future__ import annotations

from addrl_graph.errors import ConfigError
from addrl_graph.nn.encoders.base import ChunkEncoder, ChunkSizes, EmbeddingEncoder
from addrl_graph.nn.encoders.gcn import GCNEncoder
from addrl_graph.nn.encoders.lightgcn import LightGCNEncoder
from addrl_graph.nn.encoders.sage import SAGEEncoder

ENCODERS: dict[str, type[ChunkEncoder]] = {
    'embedding': EmbeddingEncoder, 'lightgcn': LightGCNEncoder, 'gcn': GCNEncoder,
    'sage': SAGEEncoder}
#: Encoders that also pass messages through attribute-value nodes (their sampled
#: neighbourhoods must include them).
ATTRIBUTE_ENCODERS = ('gcn', 'sage')


def build_encoder(config, sizes: ChunkSizes) -> ChunkEncoder:
    """The encoder ``config.name`` (a key of :data:`ENCODERS`) for ``sizes``, from an
    :class:`~addrl_graph.nn.config.EncoderConfig`."""
    if config.name not in ENCODERS:
        raise ConfigError(f'id_encoder must be one of {tuple(ENCODERS)} (got {config.name!r})')
    if config.name == 'embedding':
        return EmbeddingEncoder(sizes)
    if config.name == 'lightgcn':
        return LightGCNEncoder(sizes, config.layers, config.layer_weights)
    return ENCODERS[config.name](sizes, config.layers, config.layer_weights,
                                 config.attribute_aware)


__all__ = ['ATTRIBUTE_ENCODERS', 'ENCODERS', 'ChunkEncoder', 'ChunkSizes', 'EmbeddingEncoder',
           'GCNEncoder', 'LightGCNEncoder', 'SAGEEncoder', 'build_encoder']
