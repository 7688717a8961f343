"""ID-chunk encoders: chunk isolation, LightGCN parity with PyG, attribute-aware routing, and
their use inside ADDRL (state-dict keys, one propagation per step, gradients)."""
from __future__ import annotations

import copy

import pytest
import torch
from torch_geometric.nn import LGConv

from addrl_graph.data.schema import TRAIN, split_edges
from addrl_graph.data.train_graph import TrainGraph
from addrl_graph.errors import ConfigError
from addrl_graph.loader.link_loader import make_train_loader
from addrl_graph.nn.config import EncoderConfig, ModelConfig
from addrl_graph.nn.encoders import ENCODERS, ChunkSizes, build_encoder
from addrl_graph.nn.model import ADDRL
from addrl_graph.nn.sparse import chunk_edges

pytestmark = pytest.mark.usefixtures('one_thread')
D = 4


def sizes_of(graph: TrainGraph) -> ChunkSizes:
    return ChunkSizes(graph.num_users, graph.num_items, len(graph.attribute_names) + 1, D,
                      tuple(graph.attribute_names), tuple(graph.num_values))


def encoder_for(name: str, graph: TrainGraph, layers: int = 2, layer_weights=None,
                attribute_aware: bool = False):
    torch.manual_seed(0)
    return build_encoder(EncoderConfig(name, layers, layer_weights, attribute_aware),
                         sizes_of(graph))


def ego(graph: TrainGraph, seed: int = 0):
    K = len(graph.attribute_names) + 1
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(graph.num_users, K, D, generator=g),
            torch.randn(graph.num_items, K, D, generator=g))


@torch.no_grad()
def encode(encoder, graph: TrainGraph, user, item):
    """The encoder's output with ``user`` / ``item`` as its ego chunks."""
    encoder.user_embedding.weight.copy_(user.flatten(1))
    encoder.item_embedding.weight.copy_(item.flatten(1))
    return tuple(out.clone() for out in encoder(graph))  # the identity returns weight views


@pytest.fixture
def graph(tiny_graph) -> TrainGraph:
    return TrainGraph.from_data(*tiny_graph)


def test_chunk_edges_replicates_each_edge_per_chunk():
    edges = chunk_edges(torch.tensor([[0, 2], [1, 0]]), 3)
    assert edges.tolist() == [[0, 1, 2, 6, 7, 8], [3, 4, 5, 0, 1, 2]]
    assert chunk_edges(torch.tensor([[0], [1]]), 3, chunks=[2]).tolist() == [[2], [5]]


@pytest.mark.parametrize('name', ENCODERS)
@pytest.mark.parametrize('side', ['user', 'item'])
def test_perturbing_one_chunk_changes_only_that_chunk(graph, name, side):
    K = len(graph.attribute_names) + 1
    encoder = encoder_for(name, graph)
    user, item = ego(graph)
    before = encode(encoder, graph, user, item)
    for k in range(K):
        u2, i2 = user.clone(), item.clone()
        (u2 if side == 'user' else i2)[1, k] += 1.0
        after = encode(encoder, graph, u2, i2)
        for out0, out1 in zip(before, after):
            others = [j for j in range(K) if j != k]
            torch.testing.assert_close(out1[:, others], out0[:, others], rtol=0, atol=0)
        changed = sum(int((a[:, k] != b[:, k]).any(dim=-1).sum()) for a, b in zip(before, after))
        # the perturbed node itself, plus its neighbours for a propagating encoder
        assert changed >= (2 if encoder.propagates else 1)


@pytest.mark.parametrize('name', ['gcn', 'sage'])
def test_attribute_value_embedding_chunks_stay_apart(graph, name):
    K = len(graph.attribute_names) + 1
    encoder = encoder_for(name, graph)
    user, item = ego(graph)
    before = encode(encoder, graph, user, item)
    with torch.no_grad():
        encoder.attribute_embedding['brand'].weight.view(-1, K, D)[:, 0] += 1.0
    after = encode(encoder, graph, user, item)
    for out0, out1 in zip(before, after):
        torch.testing.assert_close(out1[:, 1:], out0[:, 1:], rtol=0, atol=0)
    assert (after[1][:, 0] != before[1][:, 0]).any()


@pytest.mark.parametrize('name', ['gcn', 'sage'])
def test_attribute_aware_items_hear_their_attribute_in_its_chunk_only(graph, name):
    K = len(graph.attribute_names) + 1
    brand = graph.attribute_names.index('brand')
    user, item = ego(graph)
    changed = {}
    for aware in (False, True):
        encoder = encoder_for(name, graph, attribute_aware=aware)
        before = encode(encoder, graph, user, item)[1]
        with torch.no_grad():  # move every chunk of every brand value
            encoder.attribute_embedding['brand'].weight.add_(1.0)
        after = encode(encoder, graph, user, item)[1]
        changed[aware] = (after != before).any(dim=-1).any(dim=0)       # [K] per chunk
    assert changed[False].all()
    assert changed[True].tolist() == [k == brand for k in range(K)]


def test_lightgcn_encoder_matches_pyg_lgconv(tiny_graph, graph):
    data, _ = tiny_graph
    weights = [0.4, 0.3, 0.2, 0.1]
    encoder = encoder_for('lightgcn', graph, layers=3, layer_weights=weights)
    user, item = ego(graph)
    U = user.size(0)
    edges = split_edges(data, TRAIN)
    homo = torch.cat([torch.stack([edges[0], edges[1] + U]), torch.stack([edges[1] + U, edges[0]])],
                     dim=1)
    x = torch.cat([user.flatten(1), item.flatten(1)])
    conv, out, h = LGConv(), weights[0] * x, x
    for w in weights[1:]:
        h = conv(h, homo)
        out = out + w * h
    got_user, got_item = encode(encoder, graph, user, item)
    torch.testing.assert_close(got_user.flatten(1), out[:U], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(got_item.flatten(1), out[U:], rtol=1e-5, atol=1e-6)


def test_the_adjacency_lives_on_the_graph_and_models_copy(graph):
    encoder = encoder_for('lightgcn', graph)
    encoder(graph)
    memo = dict(graph._memo)
    assert 'lightgcn_adjacency' in memo
    encoder(graph)                                   # the second call reuses the graph's CSR
    assert graph._memo['lightgcn_adjacency'] is memo['lightgcn_adjacency']
    clone = copy.deepcopy(encoder)                   # a model holds no graph structure
    torch.testing.assert_close(clone(graph)[1], encoder(graph)[1])


def test_build_encoder_errors_name_the_option(graph):
    with pytest.raises(ConfigError, match='id_encoder must be one of'):
        build_encoder(EncoderConfig('gat', 2, None, False), sizes_of(graph))
    with pytest.raises(ConfigError, match='layer_weights must hold'):
        encoder_for('lightgcn', graph, layers=2, layer_weights=[1.0])
    with pytest.raises(ConfigError, match=r"id_encoder .*\(got 'gat'\)"):
        ModelConfig(id_encoder='gat')
    with pytest.raises(ConfigError, match=r'layer_weights .*\(got \[1.0\]\)'):
        ModelConfig(id_encoder='lightgcn', layer_weights=[1.0])
    assert ModelConfig(encoder_layers=1, layer_weights=[0.5, 0.5]).layer_weights == [0.5, 0.5]


# ---------------------------------------------------------------------- inside ADDRL
def model_for(graph: TrainGraph, name: str, **config) -> ADDRL:
    torch.manual_seed(0)
    return ADDRL.from_graph(graph, ModelConfig(d_chunk=D, id_encoder=name, **config))


def test_the_encoder_holds_the_id_embeddings(graph):
    keys = set(model_for(graph, 'embedding').state_dict())
    assert {'id_encoder.user_embedding.weight', 'id_encoder.item_embedding.weight'} <= keys
    graph_keys = set(model_for(graph, 'sage').state_dict())
    assert keys < graph_keys and any(k.startswith('id_encoder.attribute_embedding.brand')
                                     for k in graph_keys)


def test_an_injected_encoder_is_used_and_must_fit(graph):
    encoder = encoder_for('sage', graph)
    model = ADDRL.from_graph(graph, ModelConfig(d_chunk=D), id_encoder=encoder)
    assert model.id_encoder is encoder and model.batch_needs['attribute_neighbors'] is False
    with pytest.raises(ConfigError, match='id_encoder was built for'):
        ADDRL.from_graph(graph, ModelConfig(d_chunk=2 * D), id_encoder=encoder)


@pytest.mark.parametrize('name', ['lightgcn', 'gcn', 'sage'])
def test_graph_encoder_propagates_once_per_step_and_trains(tiny_graph, graph, name):
    data, _ = tiny_graph
    model = model_for(graph, name)
    calls = []
    model.id_encoder.register_forward_hook(lambda *_: calls.append(1))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    batch = next(iter(make_train_loader(data, batch_size=16, num_neg=2, seed=0)))
    losses = []
    for _ in range(3):
        loss, _ = model(batch, graph)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert len(calls) == 3 and losses[-1] < losses[0]
    # a user the batch never touches still gets a gradient through propagation
    grad = model.id_encoder.user_embedding.weight.grad
    assert grad.abs().sum(dim=1).gt(0).sum() > batch.user_id.unique().numel()
    model.eval()
    calls.clear()
    tables = model.tables(graph)
    assert len(calls) == 1
    with torch.no_grad():
        user_ids, item_ids = model.id_encoder(graph)
    torch.testing.assert_close(tables.user, user_ids)
    _, chunks = model.chunks(graph, batch_size=3)                # several item blocks
    torch.testing.assert_close(tables.item, chunks.fused)
    torch.testing.assert_close(chunks.id, item_ids)
