"""MRR, MAP, coverage, category diversity, average popularity and per-user values of the
full-ranking evaluation, against hand-computed values on a 5-user, 8-item graph."""
from __future__ import annotations

from math import log2

import pytest
import torch
from torch_geometric.data import HeteroData

from addrl_graph.data.schema import TEST, TRAIN, VALID
from addrl_graph.errors import ConfigError
from addrl_graph.metrics.evaluate import evaluate
from addrl_graph.metrics.per_user import UserMetrics
from addrl_graph.metrics.ranking import ALL_METRICS, DEFAULT_METRICS
from addrl_graph.nn.scoring import ChunkTables
from addrl_graph.testing import graph_from_interactions

ORDER = [[0, 1, 2, 3, 4, 5, 6, 7],  # each user's ranking of the 8 items, best first
         [7, 6, 5, 4, 3, 2, 1, 0],
         [3, 1, 4, 0, 5, 2, 6, 7],
         [6, 7, 0, 1, 2, 3, 4, 5],
         [0, 1, 2, 3, 4, 5, 6, 7]]
EDGES = {TRAIN: [(0, 0), (1, 7), (1, 3), (2, 1), (3, 2), (3, 1), (3, 3), (3, 4), (4, 5)],
         VALID: [(1, 6)],
         TEST: [(0, 2), (0, 5), (1, 5), (1, 4), (1, 0), (2, 6)]}  # users 3, 4: no test item
PRICE = [0, 1, 0, 1, 0, 1, 0, 1]
CATEGORY = [1, 0, 1, 1, 2, 2, 0, 1]
D = [1 / log2(r + 1) for r in range(1, 9)]
# After masking, the test lists are  user 0: 1 2 3 4 5 | user 1: 5 4 2 1 0 | user 2: 3 4 0 5 2;
# held-out items: user 0 {2, 5} (ranks 2, 5), user 1 {5, 4, 0} (1, 2, 5), user 2 {6} (6).


@pytest.fixture
def graph() -> HeteroData:
    rows = torch.tensor([(u, i, s) for s, pairs in EDGES.items() for u, i in pairs])
    return graph_from_interactions(rows[:, 0], rows[:, 1], rows[:, 2], num_users=5, num_items=8,
                                   attr=torch.tensor([PRICE, CATEGORY]).t(),
                                   attributes={'price': 2, 'category': 3})[0]


@pytest.fixture
def tables() -> ChunkTables:
    """Tables whose user × item scores rank the items in :data:`ORDER`."""
    scores = torch.zeros(5, 8)
    for u, order in enumerate(ORDER):
        scores[u, order] = torch.arange(8, 0, -1, dtype=torch.float)
    return ChunkTables(scores.unsqueeze(1), torch.eye(8).unsqueeze(1), 'identity')


def test_mrr_and_map_by_hand(graph, tables):
    out = evaluate(tables, graph, 'test', ks=(2, 4), metrics=('mrr', 'map'), progress=False)
    assert set(out) == {'mrr@2', 'map@2', 'mrr@4', 'map@4', 'num_users'}
    assert out['num_users'] == 3
    # first hit at rank 2, 1 and none; AP = sum of P@r at hits / min(held-out, k)
    expect = {'mrr@2': (1 / 2 + 1 + 0) / 3, 'mrr@4': (1 / 2 + 1 + 0) / 3,
              'map@2': ((1 / 2) / 2 + (1 + 1) / 2 + 0) / 3,
              'map@4': ((1 / 2) / 2 + (1 + 1) / 3 + 0) / 3}
    for key, value in expect.items():
        assert out[key] == pytest.approx(value, abs=1e-6), key


def test_beyond_accuracy_by_hand(graph, tables):
    out = evaluate(tables, graph, 'test', ks=(2, 4),
                   metrics=('coverage', 'diversity', 'avg_popularity'), progress=False)
    # top 2: {1, 2}, {5, 4}, {3, 4}; top 4: + {3, 4}, {2, 1}, {0, 5}. Users 3 and 4 rank
    # item 6, 7 and 5 first but have no test item, so they recommend nothing here.
    assert out['coverage@2'] == pytest.approx(5 / 8)
    assert out['coverage@4'] == pytest.approx(6 / 8)
    # categories of the top 2: (0, 1), (2, 2), (1, 2); top 4: (0 1 1 2), (2 2 1 0), (1 2 1 2):
    # 1 - ordered same-category pairs / (k (k - 1))
    assert out['diversity@2'] == pytest.approx((1 + 0 + 1) / 3)
    assert out['diversity@4'] == pytest.approx((1 - 2 / 12) * 2 / 3 + (1 - 4 / 12) / 3)
    # training in-degrees: items 0..7 -> 1 2 1 2 1 1 0 1
    assert out['avg_popularity@2'] == pytest.approx(((2 + 1) / 2 + (1 + 1) / 2 + (2 + 1) / 2) / 3)
    assert out['avg_popularity@4'] == pytest.approx(
        ((2 + 1 + 2 + 1) / 4 + (1 + 1 + 1 + 2) / 4 + (2 + 1 + 1 + 1) / 4) / 3)
    by_price = evaluate(tables, graph, 'test', ks=(2,), metrics=('diversity',),
                        diversity_attribute='price', progress=False)
    assert by_price['diversity@2'] == pytest.approx(1.0)  # prices (1, 0) in every top 2


def test_extra_metrics_leave_the_default_ones_unchanged(graph, tables):
    default = evaluate(tables, graph, 'test', ks=(2, 4), authors_ndcg=True, progress=False)
    every = evaluate(tables, graph, 'test', ks=(2, 4), authors_ndcg=True, metrics=ALL_METRICS,
                     progress=False)
    assert set(default) == {f'{m}@{k}' for m in DEFAULT_METRICS + ('authors_ndcg',)
                            for k in (2, 4)} | {'num_users'}
    assert {key: every[key] for key in default} == default


def test_per_user_values_by_hand(graph, tables):
    out, per = evaluate(tables, graph, 'test', ks=(2,), metrics=('recall', 'ndcg', 'mrr', 'map'),
                        authors_ndcg=True, per_user=True, user_batch_size=2, progress=False)
    assert per.users.tolist() == [0, 1, 2]
    expect = {'recall@2': [1 / 2, 2 / 3, 0], 'ndcg@2': [D[1] / (D[0] + D[1]), 1, 0],
              'mrr@2': [1 / 2, 1, 0], 'map@2': [1 / 4, 1, 0], 'authors_ndcg@2': [D[1] / D[0], 1, 0]}
    assert set(per.values) == set(expect)
    for key, values in expect.items():
        assert per[key].tolist() == pytest.approx(values, abs=1e-6), key
        assert float(per[key].mean()) == pytest.approx(out[key], abs=1e-6), key


def test_per_user_values_survive_saving(graph, tables, tmp_path):
    _, per = evaluate(tables, graph, 'valid', ks=(1,), per_user=True, progress=False)
    torch.save(per.to_dict(), tmp_path / 'users.pt')
    back = UserMetrics.from_dict(torch.load(tmp_path / 'users.pt', weights_only=True))
    # only user 1 has a validation item, 6, which tops its list once item 7 is masked
    assert back.users.tolist() == [1] and back['recall@1'].tolist() == [1.0]
    assert set(back.values) == {f'{m}@1' for m in DEFAULT_METRICS}


def test_per_user_without_users():
    data, _ = graph_from_interactions([0, 1], [0, 1], [TRAIN, VALID], num_users=2, num_items=3)
    scores = ChunkTables(torch.zeros(2, 1, 3), torch.eye(3).unsqueeze(1), 'identity')
    out, per = evaluate(scores, data, 'test', ks=(1,), per_user=True, progress=False)
    assert out['num_users'] == 0 and per.users.numel() == 0
    assert per['recall@1'].shape == (0,)


def test_bad_metric_requests(graph, tables):
    with pytest.raises(ConfigError, match='bogus'):
        evaluate(tables, graph, 'test', metrics=('recall', 'bogus'), progress=False)
    with pytest.raises(ConfigError, match="diversity_attribute.*'colour'"):
        evaluate(tables, graph, 'test', metrics=('diversity',), diversity_attribute='colour',
                 progress=False)
    with pytest.raises(ConfigError, match='at least 2 items'):
        evaluate(tables, graph, 'test', ks=(1, 4), metrics=('diversity',), progress=False)
    # an attribute the graph lacks is fine while diversity is not asked for
    assert 'coverage@1' in evaluate(tables, graph, 'test', ks=(1,), metrics=('coverage',),
                                    diversity_attribute='colour', progress=False)
