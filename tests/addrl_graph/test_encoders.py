"""ID-chunk encoders: chunk isolation, LightGCN parity with PyG, attribute-aware routing, and
their use inside ADDRL (state-dict keys, one propagation per step, gradients)."""
from __future__ import annotations

import pytest
import torch
from torch_geometric.nn import LGConv

from addrl_graph.nn.config import ModelConfig
from addrl_graph.data.schema import TRAIN, split_edges
from addrl_graph.nn.encoders import ENCODERS, HeteroGNNEncoder, build_encoder, chunk_edges
from addrl_graph.errors import ConfigError
from addrl_graph.loader.link_loader import make_train_loader
from addrl_graph.nn.losses import addrl_loss
from addrl_graph.nn.model import ADDRL

pytestmark = pytest.mark.usefixtures('one_thread')
D = 4


def encoder_for(name: str, data, meta, **kwargs):
    torch.manual_seed(0)
    names = [a['name'] for a in meta['attributes']]
    return build_encoder(name, data['user'].num_nodes, data['item'].num_nodes,
                         split_edges(data, TRAIN), data['item'].attr, names,
                         [len(a['values']) for a in meta['attributes']], len(names) + 1, D,
                         **kwargs)


def ego(data, K: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(data['user'].num_nodes, K, D, generator=g),
            torch.randn(data['item'].num_nodes, K, D, generator=g))


def test_chunk_edges_replicates_each_edge_per_chunk():
    edges = chunk_edges(torch.tensor([[0, 2], [1, 0]]), 3)
    assert edges.tolist() == [[0, 1, 2, 6, 7, 8], [3, 4, 5, 0, 1, 2]]
    assert chunk_edges(torch.tensor([[0], [1]]), 3, chunks=[2]).tolist() == [[2], [5]]


@pytest.mark.parametrize('name', ENCODERS)
@pytest.mark.parametrize('side', ['user', 'item'])
def test_perturbing_one_chunk_changes_only_that_chunk(tiny_graph, name, side):
    data, meta = tiny_graph
    K = len(meta['attributes']) + 1
    encoder = encoder_for(name, data, meta)
    user, item = ego(data, K)
    before = encoder(user, item)
    for k in range(K):
        u2, i2 = user.clone(), item.clone()
        (u2 if side == 'user' else i2)[1, k] += 1.0
        after = encoder(u2, i2)
        for out0, out1 in zip(before, after):
            others = [j for j in range(K) if j != k]
            torch.testing.assert_close(out1[:, others], out0[:, others], rtol=0, atol=0)
        changed = sum(int((a[:, k] != b[:, k]).any(dim=-1).sum()) for a, b in zip(before, after))
        # the perturbed node itself, plus its neighbours for a propagating encoder
        assert changed >= (2 if encoder.propagates else 1)


@pytest.mark.parametrize('name', ['gcn', 'sage'])
def test_attribute_value_embedding_chunks_stay_apart(tiny_graph, name):
    data, meta = tiny_graph
    K = len(meta['attributes']) + 1
    encoder = encoder_for(name, data, meta)
    user, item = ego(data, K)
    before = encoder(user, item)
    with torch.no_grad():
        encoder.attribute_embedding['brand'].weight.view(-1, K, D)[:, 0] += 1.0
    after = encoder(user, item)
    for out0, out1 in zip(before, after):
        torch.testing.assert_close(out1[:, 1:], out0[:, 1:], rtol=0, atol=0)
    assert (after[1][:, 0] != before[1][:, 0]).any()


@pytest.mark.parametrize('name', ['gcn', 'sage'])
def test_attribute_aware_items_hear_their_attribute_in_its_chunk_only(tiny_graph, name):
    data, meta = tiny_graph
    K = len(meta['attributes']) + 1
    brand = [a['name'] for a in meta['attributes']].index('brand')
    user, item = ego(data, K)
    changed = {}
    for aware in (False, True):
        encoder = encoder_for(name, data, meta, attribute_aware=aware)
        before = encoder(user, item)[1]
        with torch.no_grad():  # move every chunk of every brand value
            encoder.attribute_embedding['brand'].weight.add_(1.0)
        after = encoder(user, item)[1]
        changed[aware] = (after != before).any(dim=-1).any(dim=0)       # [K] per chunk
    assert changed[False].all()
    assert changed[True].tolist() == [k == brand for k in range(K)]


def test_lightgcn_encoder_matches_pyg_lgconv(tiny_graph):
    data, meta = tiny_graph
    K = len(meta['attributes']) + 1
    layers, weights = 3, [0.4, 0.3, 0.2, 0.1]
    encoder = encoder_for('lightgcn', data, meta, num_layers=layers, layer_weights=weights)
    user, item = ego(data, K)
    U = user.size(0)
    edges = split_edges(data, TRAIN)
    homo = torch.cat([torch.stack([edges[0], edges[1] + U]), torch.stack([edges[1] + U, edges[0]])],
                     dim=1)
    x = torch.cat([user.flatten(1), item.flatten(1)])
    conv, out, h = LGConv(), weights[0] * x, x
    for w in weights[1:]:
        h = conv(h, homo)
        out = out + w * h
    got_user, got_item = encoder(user, item)
    torch.testing.assert_close(got_user.flatten(1), out[:U], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(got_item.flatten(1), out[U:], rtol=1e-5, atol=1e-6)


def test_build_encoder_errors_name_the_option(tiny_graph):
    data, meta = tiny_graph
    with pytest.raises(ConfigError, match='id_encoder must be one of'):
        build_encoder('gat', 3, 4)
    with pytest.raises(ConfigError, match='propagates over the graph'):
        build_encoder('lightgcn', 3, 4)
    with pytest.raises(ConfigError, match='layer_weights must hold'):
        encoder_for('lightgcn', data, meta, num_layers=2, layer_weights=[1.0])
    with pytest.raises(ConfigError, match=r"id_encoder .*\(got 'gat'\)"):
        ModelConfig(id_encoder='gat').validate()
    with pytest.raises(ConfigError, match=r'layer_weights .*\(got \[1.0\]\)'):
        ModelConfig(id_encoder='lightgcn', layer_weights='1.0').validate()
    assert ModelConfig(encoder_layers=1, layer_weights='0.5,0.5').validate().layer_weights == [0.5,
                                                                                               0.5]


# ---------------------------------------------------------------------- inside ADDRL
def model_for(tiny_graph, name: str, **config) -> ADDRL:
    data, meta = tiny_graph
    torch.manual_seed(0)
    return ADDRL.from_graph(data, meta, ModelConfig(d_chunk=D, id_encoder=name, **config))


def test_embedding_encoder_keeps_the_state_dict_keys(tiny_graph):
    keys = set(model_for(tiny_graph, 'embedding').state_dict())
    assert {'user_embedding.weight', 'item_embedding.weight'} <= keys
    assert not [k for k in keys if k.startswith('encoder.')]
    graph_keys = set(model_for(tiny_graph, 'sage').state_dict())
    assert keys < graph_keys and any(k.startswith('encoder.attribute_embedding.brand')
                                     for k in graph_keys)


@pytest.mark.parametrize('name', ['lightgcn', 'gcn', 'sage'])
def test_graph_encoder_propagates_once_per_step_and_trains(tiny_graph, name):
    data, _ = tiny_graph
    model = model_for(tiny_graph, name)
    calls = []
    model.encoder.register_forward_hook(lambda *_: calls.append(1))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    batch = next(iter(make_train_loader(data, batch_size=16, num_neg=2, seed=0)))
    losses = []
    for _ in range(3):
        loss, _ = addrl_loss(model, batch)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert len(calls) == 3 and losses[-1] < losses[0]
    # a user the batch never touches still gets a gradient through propagation
    assert model.user_embedding.weight.grad.abs().sum(dim=1).gt(0).sum() > batch.user_id.unique().numel()
    model.eval()
    calls.clear()
    table = model.item_table(data['item'], batch_size=3)      # several item blocks
    users = model.user_table(torch.arange(data['user'].num_nodes))
    assert len(calls) == 1
    with torch.no_grad():
        user_ids, item_ids = model.id_tables()
    torch.testing.assert_close(users, user_ids)
    chunks = model.item_chunks(torch.arange(data['item'].num_nodes),
                               *(data['item'][k] for k in ('x_text', 'x_image', 'has_text',
                                                           'has_image')))
    torch.testing.assert_close(table, chunks.fused.detach())
    torch.testing.assert_close(chunks.id, item_ids)


def test_hetero_encoder_rejects_mismatched_attributes():
    with pytest.raises(ConfigError, match='item_attr must be'):
        HeteroGNNEncoder(2, 3, torch.tensor([[0], [1]]), torch.zeros(3, 1, dtype=torch.long),
                         ['price', 'brand'], [2, 2], 3, D)
