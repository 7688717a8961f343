"""Baselines: table shapes, tables against the batch path's scores, gradients, LightGCN
propagation against PyG, the adjacency memoised on the graph, and learning a planted preference
on a toy graph."""
from __future__ import annotations

import copy
import math

import pytest
import torch
from torch import Tensor
from torch_geometric.data import HeteroData
from torch_geometric.nn.models import LightGCN

from addrl_graph.data.schema import INTERACTS, TRAIN, VALID
from addrl_graph.data.train_graph import TrainGraph
from addrl_graph.errors import ConfigError
from addrl_graph.loader.batch import TripletBatch
from addrl_graph.metrics.evaluate import evaluate
from addrl_graph.nn.baselines import BPRMF, VBPR, LightGCNRanker
from addrl_graph.nn.encoders.lightgcn import lightgcn_adjacency
from addrl_graph.nn.sparse import normalized_adjacency, to_homogeneous_edges
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


def item_batch(graph: TrainGraph, user: Tensor, item_id: Tensor, pos_index: Tensor,
               neg_index: Tensor) -> TripletBatch:
    """A batch of ``user`` and the items ``item_id`` (features read from ``graph``)."""
    x_text, x_image, has_text, has_image = graph.item_features(item_id)
    return TripletBatch(user_id=user, item_id=item_id, pos_index=pos_index, neg_index=neg_index,
                        x_text=x_text, x_image=x_image, has_text=has_text, has_image=has_image,
                        attr=graph.attr[item_id]).validate()


def sample_batch(graph: TrainGraph, g: torch.Generator, B: int = 64, N: int = 4) -> TripletBatch:
    """``B`` random training edges, each with ``N`` uniformly drawn negative items."""
    edges = graph.edge_index
    pick = torch.randint(0, edges.size(1), (B,), generator=g)
    user, pos = edges[:, pick]
    neg = torch.randint(0, I, (B, N), generator=g)
    item_id, inverse = torch.unique(torch.cat([pos, neg.view(-1)]), return_inverse=True)
    return item_batch(graph, user, item_id, inverse[:B], inverse[B:].view(B, N))


def build(name: str, graph: TrainGraph, **kwargs):
    torch.manual_seed(0)
    cls = {'bpr-mf': BPRMF, 'lightgcn': LightGCNRanker, 'vbpr': VBPR}[name]
    return cls.from_graph(graph, **kwargs)


def direct_scores(model, graph: TrainGraph, user: Tensor, item: Tensor) -> Tensor:
    """``[E]`` scores of aligned pairs through the training path (``model.batch_vectors``)."""
    item_id, pos = torch.unique(item, return_inverse=True)
    batch = item_batch(graph, user, item_id, pos, pos.view(-1, 1))
    users, items, _, _ = model.batch_vectors(batch, graph)
    return (users * items[batch.pos_index]).sum(-1)


def table_scores(model, graph: TrainGraph) -> Tensor:
    """``[U, I]`` scores from the ranking tables, through the evaluator's kernel."""
    return model.tables(graph).scores(torch.arange(U))


MODELS = ['bpr-mf', 'lightgcn', 'vbpr']


@pytest.mark.parametrize('name', MODELS)
def test_tables_have_one_chunk_and_match_direct_scores(name):
    graph = TrainGraph.from_data(toy_graph())
    model = build(name, graph, embedding_dim=8).eval()
    width = {'bpr-mf': 8, 'lightgcn': 8, 'vbpr': 8 + 32 + 2}[name]
    tables = model.tables(graph)
    assert model.chunk_activation == tables.activation == 'identity'
    assert tables.item.shape == (I, 1, width) and tables.user.shape == (U, 1, width)
    assert tables.score_terms(torch.tensor([3, 0, 3])).shape == (3, I, 1)
    user, item = torch.tensor([0, 5, 17, 47]), torch.tensor([31, 0, 9, 9])
    with torch.no_grad():
        expected = direct_scores(model, graph, user, item)
    assert torch.allclose(table_scores(model, graph)[user, item], expected, atol=1e-5)
    assert torch.allclose(tables.pair_terms(user, item).sum(-1), expected, atol=1e-5)


@pytest.mark.parametrize('name', MODELS)
def test_loss_terms_and_gradients_reach_every_parameter(name):
    graph = TrainGraph.from_data(toy_graph())
    model = build(name, graph, embedding_dim=8, l2=0.1)
    batch = sample_batch(graph, torch.Generator().manual_seed(1))
    total, terms = model(batch, graph)
    assert set(terms) == {'bpr', 'l2', 'total'}
    assert terms['total'] == pytest.approx(terms['bpr'] + terms['l2'], rel=1e-6)
    assert terms['bpr'] == pytest.approx(math.log(2), abs=0.05)  # small random scores
    assert terms['l2'] > 0
    total.backward()
    for pname, p in model.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, pname


@pytest.mark.parametrize('name', MODELS)
def test_loss_is_bpr_over_each_negative_plus_l2(name):
    graph = TrainGraph.from_data(toy_graph())
    model = build(name, graph, embedding_dim=8, l2=0.0)
    batch = sample_batch(graph, torch.Generator().manual_seed(2), B=5, N=3)
    with torch.no_grad():
        _, terms = model(batch, graph)
        tables = model.tables(graph)  # the whole-graph path, independent of the batch's
        user = batch.user_id.repeat_interleave(3)
        pos = tables.pair_terms(user, batch.item_id[batch.pos_index].repeat_interleave(3))
        neg = tables.pair_terms(user, batch.item_id[batch.neg_index].reshape(-1))
    expected = torch.nn.functional.softplus(neg.sum(-1) - pos.sum(-1)).mean()
    assert terms['bpr'] == pytest.approx(float(expected), abs=1e-5)
    assert terms['l2'] == 0.0


def test_empty_batch_gives_zero_loss():
    graph = TrainGraph.from_data(toy_graph())
    batch = sample_batch(graph, torch.Generator().manual_seed(0), B=0, N=4)
    for name in MODELS:
        total, terms = build(name, graph, embedding_dim=8)(batch, graph)
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
    graph = TrainGraph.from_data(data)
    model = build(name, graph, embedding_dim=16, l2=1e-4)
    g = torch.Generator().manual_seed(0)
    probe = sample_batch(graph, torch.Generator().manual_seed(99))
    before = model(probe, graph)[1]['bpr']
    optimizer = torch.optim.Adam(model.parameters(), lr=0.02)
    for _ in range(100):
        optimizer.zero_grad()
        model(sample_batch(graph, g), graph)[0].backward()
        optimizer.step()
    assert model(probe, graph)[1]['bpr'] < 0.4 * before
    model.eval()
    assert auc(table_scores(model, graph), data) > 0.9
    # the same tables through the evaluator: held-out items rank high among the unseen ones
    result = evaluate(model, data, 'valid', ks=(4,), progress=False, graph=graph)
    assert result['num_users'] == U and result['recall@4'] > 0.7


def test_untrained_model_ranks_at_chance():
    data = toy_graph()
    graph = TrainGraph.from_data(data)
    model = build('bpr-mf', graph).eval()
    assert abs(auc(table_scores(model, graph), data) - 0.5) < 0.1


def bare_graph(num_users: int, num_items: int, edge_index: Tensor | None = None,
               text_dim: int = 0, image_dim: int = 0) -> TrainGraph:
    """A training graph without attributes; random features of the given widths, all present."""
    return TrainGraph(edge_index=torch.zeros(2, 0, dtype=torch.long) if edge_index is None
                      else edge_index, num_users=num_users,
                      x_text=torch.randn(num_items, text_dim),
                      x_image=torch.randn(num_items, image_dim),
                      has_text=torch.full((num_items,), text_dim > 0),
                      has_image=torch.full((num_items,), image_dim > 0),
                      attr=torch.zeros(num_items, 0, dtype=torch.long), attribute_names=[],
                      num_values=[])


# ---------------------------------------------------------------------- LightGCN specifics
def small_edges() -> Tensor:
    """5 users x 6 items with a duplicate edge and item 5 isolated."""
    return torch.tensor([[0, 0, 1, 2, 2, 3, 4, 4, 1],
                         [0, 1, 1, 2, 3, 4, 0, 2, 1]])


def test_lightgcn_propagation_equals_pyg_get_embedding():
    edges = small_edges()
    torch.manual_seed(0)
    model = LightGCNRanker(5, 6, embedding_dim=4, num_layers=3)
    reference = LightGCN(11, 4, 3)  # PyG's own path: gcn_norm + scatter over edge_index
    reference.embedding.weight.data.copy_(model.gnn.embedding.weight.data)
    expected = reference.get_embedding(to_homogeneous_edges(edges, 5))
    out = model.propagate(bare_graph(5, 6, edges))
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


def test_lightgcn_adjacency_is_memoised_on_the_graph_and_tables_follow_the_weights():
    """The normalised adjacency is built once per graph (on the graph, not the model); the
    tables hold no cache of their own, so an in-place optimiser step shows at once."""
    graph = TrainGraph.from_data(toy_graph())
    model = build('lightgcn', graph, embedding_dim=8).eval()
    first = model.tables(graph)
    adj = lightgcn_adjacency(graph)
    second = model.tables(graph)
    assert torch.equal(second.user, first.user) and torch.equal(second.item, first.item)
    assert lightgcn_adjacency(graph) is adj  # one normalisation per graph
    with torch.no_grad():
        model.gnn.embedding.weight.mul_(2.0)  # an optimiser step changes weights in place
    doubled = model.tables(graph)
    assert torch.allclose(doubled.user, 2 * first.user, atol=1e-6)
    assert torch.allclose(doubled.item, 2 * first.item, atol=1e-6)
    assert lightgcn_adjacency(graph) is adj
    # the model keeps no tensor besides its parameters and buffers (no graph, no cache)
    assert not [k for k, v in vars(model).items() if isinstance(v, Tensor)]


def test_lightgcn_deep_copies_and_reloads_because_it_holds_no_graph():
    graph = TrainGraph.from_data(toy_graph())
    model = build('lightgcn', graph, embedding_dim=8).eval()
    table = model.tables(graph).item                      # builds the graph's CSR adjacency
    clone = copy.deepcopy(model)
    assert clone.gnn.embedding.weight.data_ptr() != model.gnn.embedding.weight.data_ptr()
    assert torch.equal(clone.tables(graph).item, table)
    with torch.no_grad():
        clone.gnn.embedding.weight.zero_()                # the copy is independent
    assert torch.equal(model.tables(graph).item, table)
    fresh = build('lightgcn', graph, embedding_dim=8)
    with torch.no_grad():
        fresh.gnn.embedding.weight.zero_()
    fresh.load_state_dict(model.state_dict())
    assert torch.equal(fresh.eval().tables(graph).item, table)


def test_lightgcn_propagates_over_training_edges_only():
    data = toy_graph()
    graph = TrainGraph.from_data(data)
    model = build('lightgcn', graph)
    assert (model.num_users, model.num_items) == (U, I)
    assert set(model.state_dict()) == {'gnn.embedding.weight', 'gnn.alpha'}
    store = data[INTERACTS]
    train = store.edge_index[:, store.split == TRAIN]
    assert torch.equal(graph.edge_index, train)
    adj = lightgcn_adjacency(graph).to_dense()
    assert torch.equal(adj, normalized_adjacency(train, U, I).to_dense())
    held = store.edge_index[:, store.split == VALID]
    assert held.size(1) > 0 and adj[held[0], U + held[1]].abs().sum() == 0


# ---------------------------------------------------------------------- VBPR specifics
def test_vbpr_ignores_features_of_missing_modalities():
    data, noisy = toy_graph(), toy_graph()
    store = noisy['item']
    assert not store.has_image[1] and not store.has_text[3]
    store.x_text = store.x_text + 5 * (~store.has_text).float().unsqueeze(-1)
    store.x_image = store.x_image + 5 * (~store.has_image).float().unsqueeze(-1)
    graph, noisy_graph = TrainGraph.from_data(data), TrainGraph.from_data(noisy)
    model = build('vbpr', graph, embedding_dim=8)
    user, item = torch.tensor([0, 0]), torch.tensor([1, 3])  # no image, no text
    with torch.no_grad():
        base = direct_scores(model, graph, user, item)
        changed = direct_scores(model, noisy_graph, user, item)
    assert torch.allclose(base, changed)
    assert torch.allclose(model.tables(graph).item, model.tables(noisy_graph).item)


def test_vbpr_needs_features():
    with pytest.raises(ConfigError, match='text or image'):
        VBPR(3, 4, text_dim=0, image_dim=0)
    model = VBPR(3, 4, text_dim=0, image_dim=5, embedding_dim=2, feature_dim=3)
    tables = model.tables(bare_graph(3, 4, image_dim=5))
    assert tables.item.shape == (4, 1, 2 + 3 + 2) and tables.user.shape == (3, 1, 2 + 3 + 2)
