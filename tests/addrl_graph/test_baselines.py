"""Baselines: table shapes, tables against direct scores, gradients, LightGCN propagation against
PyG, table caching, and learning a planted preference on a toy graph."""
from __future__ import annotations

import copy
import math

import pytest
import torch
from torch import Tensor
from torch_geometric.data import HeteroData
from torch_geometric.nn.models import LightGCN

from addrl_graph.nn.baselines import (BPRMF, VBPR, LightGCNRanker, normalized_adjacency,
                                   to_homogeneous_edges)
from addrl_graph.loader.batch import TripletBatch
from addrl_graph.data.schema import INTERACTS, TRAIN, VALID
from addrl_graph.errors import ConfigError
from addrl_graph.metrics.evaluate import evaluate
from addrl_graph.testing import graph_from_interactions

U, I, C = 48, 32, 4          # users, items, planted clusters (user u and item i: u % C, i % C)
D_T, D_V = 6, 4


pytestmark = pytest.mark.usefixtures('one_thread')


def toy_graph(seed: int = 0) -> HeteroData:
    """Every user likes the 8 items of its cluster: 4 of them are training edges, the other
    4 held out (split VALID). The text feature encodes the cluster; the image is noise."""
    g = torch.Generator().manual_seed(seed)
    rows = []
    for u in range(U):
        liked = torch.arange(u % C, I, C)[torch.randperm(I // C, generator=g)]
        rows += [(u, int(i), TRAIN) for i in liked[:4]] + [(u, int(i), VALID) for i in liked[4:]]
    t = torch.tensor(rows)
    return graph_from_interactions(
        t[:, 0], t[:, 1], t[:, 2], U, I,
        x_text=torch.cat([torch.eye(C)[torch.arange(I) % C],
                          0.1 * torch.randn(I, D_T - C, generator=g)], dim=1),
        x_image=torch.randn(I, D_V, generator=g),
        has_text=torch.arange(I) % 7 != 3, has_image=torch.arange(I) % 5 != 1)[0]


def train_edges(data: HeteroData) -> Tensor:
    store = data[INTERACTS]
    return store.edge_index[:, store.split == TRAIN]


def sample_batch(data: HeteroData, g: torch.Generator, B: int = 64, N: int = 4) -> TripletBatch:
    """``B`` random training edges, each with ``N`` uniformly drawn negative items."""
    edges = train_edges(data)
    pick = torch.randint(0, edges.size(1), (B,), generator=g)
    user, pos = edges[:, pick]
    neg = torch.randint(0, I, (B, N), generator=g)
    item_id, inverse = torch.unique(torch.cat([pos, neg.view(-1)]), return_inverse=True)
    item = data['item']
    return TripletBatch(
        user_id=user, item_id=item_id, pos_index=inverse[:B], neg_index=inverse[B:].view(B, N),
        x_text=item.x_text[item_id], x_image=item.x_image[item_id],
        has_text=item.has_text[item_id], has_image=item.has_image[item_id],
        attr=torch.zeros(item_id.numel(), 0, dtype=torch.long)).validate()


def build(name: str, data: HeteroData, **kwargs):
    torch.manual_seed(0)
    cls = {'bpr-mf': BPRMF, 'lightgcn': LightGCNRanker, 'vbpr': VBPR}[name]
    return cls.from_graph(data, {}, **kwargs)


def direct_scores(model, data: HeteroData, user: Tensor, item: Tensor) -> Tensor:
    if isinstance(model, VBPR):
        store = data['item']
        return model(user, item, store.x_text[item], store.x_image[item], store.has_text[item],
                     store.has_image[item])
    return model(user, item)


def table_scores(model, data: HeteroData) -> Tensor:
    """``[U, I]`` scores from the ranker tables, as the evaluator computes them."""
    items = model.item_table(data['item'])
    users = model.user_table(torch.arange(U))
    return torch.einsum('ukd,ikd->ui', users, items)


MODELS = ['bpr-mf', 'lightgcn', 'vbpr']


@pytest.mark.parametrize('name', MODELS)
def test_tables_have_one_chunk_and_match_direct_scores(name):
    data = toy_graph()
    model = build(name, data, embedding_dim=8).eval()
    width = {'bpr-mf': 8, 'lightgcn': 8, 'vbpr': 8 + 32 + 2}[name]
    assert model.chunk_activation == 'identity'
    assert model.item_table(data['item']).shape == (I, 1, width)
    assert model.user_table(torch.tensor([3, 0, 3])).shape == (3, 1, width)
    user, item = torch.tensor([0, 5, 17, 47]), torch.tensor([31, 0, 9, 9])
    with torch.no_grad():
        expected = direct_scores(model, data, user, item)
    assert torch.allclose(table_scores(model, data)[user, item], expected, atol=1e-5)


@pytest.mark.parametrize('name', MODELS)
def test_loss_terms_and_gradients_reach_every_parameter(name):
    data = toy_graph()
    model = build(name, data, embedding_dim=8, l2=0.1)
    batch = sample_batch(data, torch.Generator().manual_seed(1))
    total, terms = model.loss(batch)
    assert set(terms) == {'bpr', 'l2', 'total'}
    assert terms['total'] == pytest.approx(terms['bpr'] + terms['l2'], rel=1e-6)
    assert terms['bpr'] == pytest.approx(math.log(2), abs=0.05)  # small random scores
    assert terms['l2'] > 0
    total.backward()
    for pname, p in model.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, pname


@pytest.mark.parametrize('name', MODELS)
def test_loss_is_bpr_over_each_negative_plus_l2(name):
    data = toy_graph()
    model = build(name, data, embedding_dim=8, l2=0.0)
    batch = sample_batch(data, torch.Generator().manual_seed(2), B=5, N=3)
    with torch.no_grad():
        _, terms = model.loss(batch)
        user = batch.user_id.repeat_interleave(3)
        pos = direct_scores(model, data, user, batch.item_id[batch.pos_index].repeat_interleave(3))
        neg = direct_scores(model, data, user, batch.item_id[batch.neg_index].reshape(-1))
    expected = torch.nn.functional.softplus(neg - pos).mean()
    assert terms['bpr'] == pytest.approx(float(expected), abs=1e-5)
    assert terms['l2'] == 0.0


def test_empty_batch_gives_zero_loss():
    data = toy_graph()
    batch = sample_batch(data, torch.Generator().manual_seed(0), B=0, N=4)
    for name in MODELS:
        total, terms = build(name, data, embedding_dim=8).loss(batch)
        assert total.item() == 0.0 and terms['l2'] == 0.0


def auc(scores: Tensor, data: HeteroData) -> float:
    """P(held-out liked item outscores an item of another cluster), over users."""
    store = data[INTERACTS]
    held = store.edge_index[:, store.split == VALID]
    other = (torch.arange(I).view(1, -1) % C) != (torch.arange(U).view(-1, 1) % C)  # [U, I]
    wins = []
    for u, i in held.t().tolist():
        wins.append((scores[u, i] > scores[u][other[u]]).float().mean())
    return float(torch.stack(wins).mean())


@pytest.mark.parametrize('name', MODELS)
def test_training_learns_the_planted_preference(name):
    data = toy_graph()
    model = build(name, data, embedding_dim=16, l2=1e-4)
    g = torch.Generator().manual_seed(0)
    probe = sample_batch(data, torch.Generator().manual_seed(99))
    before = model.loss(probe)[1]['bpr']
    optimizer = torch.optim.Adam(model.parameters(), lr=0.02)
    for _ in range(100):
        optimizer.zero_grad()
        model.loss(sample_batch(data, g))[0].backward()
        optimizer.step()
    assert model.loss(probe)[1]['bpr'] < 0.4 * before
    model.eval()
    assert auc(table_scores(model, data), data) > 0.9
    # the same tables through the evaluator: held-out items rank high among the unseen ones
    result = evaluate(model, data, 'valid', ks=(4,), progress=False)
    assert result['num_users'] == U and result['recall@4'] > 0.7


def test_untrained_model_ranks_at_chance():
    data = toy_graph()
    model = build('bpr-mf', data).eval()
    assert abs(auc(table_scores(model, data), data) - 0.5) < 0.1


# ---------------------------------------------------------------------- LightGCN specifics
def small_edges() -> Tensor:
    """5 users x 6 items with a duplicate edge and item 5 isolated."""
    return torch.tensor([[0, 0, 1, 2, 2, 3, 4, 4, 1],
                         [0, 1, 1, 2, 3, 4, 0, 2, 1]])


def test_lightgcn_propagation_equals_pyg_get_embedding():
    edges = small_edges()
    torch.manual_seed(0)
    model = LightGCNRanker(5, 6, edges, embedding_dim=4, num_layers=3)
    reference = LightGCN(11, 4, 3)  # PyG's own path: gcn_norm + scatter over edge_index
    reference.embedding.weight.data.copy_(model.gnn.embedding.weight.data)
    expected = reference.get_embedding(to_homogeneous_edges(edges, 5))
    out = model.propagate()
    assert torch.allclose(out, expected, atol=1e-6)
    assert torch.allclose(out[5 + 5], reference.embedding.weight[10] / 4)  # isolated item
    # gradients agree too (the sparse product's backward reuses the symmetric matrix)
    weight = torch.randn(11, 4)
    (out * weight).sum().backward()
    (expected * weight).sum().backward()
    assert torch.allclose(model.gnn.embedding.weight.grad, reference.embedding.weight.grad,
                          atol=1e-6)


def test_normalized_adjacency_is_symmetric_gcn_norm():
    adj = normalized_adjacency(small_edges(), 5, 6).to_dense()
    assert torch.allclose(adj, adj.t())
    # user 1 has the item-1 edge twice plus nothing else; item 1 has users 0, 1, 1
    assert adj[1, 5 + 1] == pytest.approx(2 / math.sqrt(2 * 3))
    assert adj[:, 5 + 5].abs().sum() == 0


def test_lightgcn_tables_cache_and_refresh():
    data = toy_graph()
    model = build('lightgcn', data, embedding_dim=8).eval()
    users = torch.arange(U)
    first = model.user_table(users)
    items = model.item_table(data['item'])
    assert torch.equal(model.user_table(users), first)
    cached = model._table[1]
    model.user_table(users)
    assert model._table[1] is cached  # one propagation per evaluation pass
    with torch.no_grad():
        model.gnn.embedding.weight.mul_(2.0)  # an optimiser step changes weights in place
    assert torch.allclose(model.user_table(users), 2 * first, atol=1e-6)
    assert torch.allclose(model.item_table(data['item']), 2 * items, atol=1e-6)
    model.train()
    assert model._table is None


def test_lightgcn_deep_copies_and_reloads_without_its_caches():
    data = toy_graph()
    model = build('lightgcn', data, embedding_dim=8).eval()
    table = model.item_table(data['item'])              # builds the CSR and the table cache
    clone = copy.deepcopy(model)
    assert clone._adj is None and torch.equal(clone.item_table(data['item']), table)
    fresh = build('lightgcn', data, embedding_dim=8)
    with torch.no_grad():
        fresh.gnn.embedding.weight.zero_()
    fresh.load_state_dict(model.state_dict())
    assert torch.equal(fresh.eval().item_table(data['item']), table)


def test_lightgcn_from_graph_uses_training_edges_only():
    data = toy_graph()
    model = build('lightgcn', data)
    assert torch.equal(model.edge_index, train_edges(data))
    assert 'edge_index' not in model.state_dict()
    with pytest.raises(ConfigError, match='edge_index'):
        LightGCNRanker(2, 2, torch.tensor([[0, 2], [0, 1]]))


# ---------------------------------------------------------------------- VBPR specifics
def test_vbpr_ignores_features_of_missing_modalities():
    data = toy_graph()
    model = build('vbpr', data, embedding_dim=8)
    store = data['item']
    item = torch.tensor([1, 3])  # has_image[1] is False, has_text[3] is False
    assert not store.has_image[1] and not store.has_text[3]
    user = torch.tensor([0, 0])
    args = (store.x_text[item], store.x_image[item], store.has_text[item], store.has_image[item])
    with torch.no_grad():
        base = model(user, item, *args)
        noisy = model(user, item, args[0] + 5 * (~args[2]).float().unsqueeze(-1),
                      args[1] + 5 * (~args[3]).float().unsqueeze(-1), *args[2:])
    assert torch.allclose(base, noisy)


def test_vbpr_needs_features():
    with pytest.raises(ConfigError, match='text or image'):
        VBPR(3, 4, text_dim=0, image_dim=0)
    model = VBPR(3, 4, text_dim=0, image_dim=5, embedding_dim=2, feature_dim=3)
    store = {'x_text': torch.zeros(4, 0), 'x_image': torch.randn(4, 5),
             'has_text': torch.zeros(4, dtype=torch.bool),
             'has_image': torch.ones(4, dtype=torch.bool)}
    assert model.item_table(store).shape == (4, 1, 2 + 3 + 2)
