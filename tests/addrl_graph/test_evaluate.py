"""Full-ranking evaluation: hand-computed metrics, masking, user selection, blocked scorer,
models evaluated through their ranking tables."""
from __future__ import annotations

from math import log2

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.data import HeteroData

from addrl_graph.data.schema import TEST, TRAIN, VALID
from addrl_graph.data.train_graph import TrainGraph
from addrl_graph.errors import ConfigError
from addrl_graph.metrics.evaluate import evaluate
from addrl_graph.nn.scoring import ChunkTables, chunk_scores, item_layout
from addrl_graph.metrics.ranking import LinkPredAuthorsNDCG, ranking_metrics
from addrl_graph.testing import graph_from_interactions

# 3 users x 6 items; scores[u, i] is what the ranker returns.
SCORES = torch.tensor([[0.9, 0.8, 0.7, 0.6, 0.5, 0.4],
                       [0.1, 0.2, 0.3, 0.4, 0.5, 0.6],
                       [0.5, 0.1, 0.9, 0.3, 0.2, 0.8]])
EDGES = {  # (user, item, split)
    TRAIN: [(0, 0), (1, 5), (1, 4), (2, 1)],
    VALID: [(0, 2), (2, 3), (2, 0)],  # user 1 has no validation item
    TEST: [(0, 1), (0, 5), (1, 0)],   # user 2 has no test item
}
D = [1 / log2(r + 1) for r in range(1, 7)]  # discount of rank r = 1..6


@pytest.fixture
def graph() -> HeteroData:
    rows = [(u, i, s) for s, pairs in EDGES.items() for u, i in pairs]
    t = torch.tensor(rows)
    perm = torch.randperm(t.size(0), generator=torch.Generator().manual_seed(0))
    t = t[perm]  # edge order must not matter
    return graph_from_interactions(t[:, 0], t[:, 1], t[:, 2], num_users=3, num_items=6)[0]


def TableRanker(scores: Tensor, activation: str = 'identity') -> ChunkTables:
    """Ranking tables whose score matrix is given: user rows are ``scores``, items one-hot."""
    return ChunkTables(scores.unsqueeze(1), torch.eye(scores.size(1)).unsqueeze(1),  # [U|I, 1, I]
                       activation)


class TableModel(nn.Module):
    """A model that ranks through :func:`TableRanker`'s tables and records how it was asked."""
    def __init__(self, scores: Tensor) -> None:
        super().__init__()
        self.scores = nn.Parameter(scores.clone())
        self.calls: list[tuple[TrainGraph, bool]] = []

    def tables(self, graph: TrainGraph) -> ChunkTables:
        self.calls.append((graph, self.training))
        return TableRanker(self.scores.detach())


def test_valid_metrics_by_hand(graph):
    out = evaluate(TableRanker(SCORES), graph, 'valid', ks=(2, 3, 4), authors_ndcg=True,
                   progress=False)
    # user 0 (train item 0 masked): ranking 1, 2, 3, 4, 5; held-out {2} at rank 2.
    # user 2 (train item 1 masked): ranking 2, 5, 0, 3, 4; held-out {3, 0} at ranks 4, 3.
    # user 1 has no validation item and is not averaged.
    assert out['num_users'] == 2
    expect = {
        'recall@2': (1 + 0) / 2, 'precision@2': (1 / 2 + 0) / 2, 'hit@2': 0.5,
        'ndcg@2': (D[1] / D[0] + 0) / 2, 'authors_ndcg@2': (D[1] / D[0] + 0) / 2,
        'recall@3': (1 + 1 / 2) / 2, 'precision@3': (1 / 3 + 1 / 3) / 2, 'hit@3': 1.0,
        # user 2: one hit at rank 3, two held-out items -> ideal DCG counts 2 ranks;
        # the authors' ideal DCG counts only the one retrieved hit.
        'ndcg@3': (D[1] + D[2] / (D[0] + D[1])) / 2,
        'authors_ndcg@3': (D[1] + D[2] / D[0]) / 2,
        'recall@4': 1.0, 'precision@4': (1 / 4 + 2 / 4) / 2, 'hit@4': 1.0,
        'ndcg@4': (D[1] + (D[2] + D[3]) / (D[0] + D[1])) / 2,
        'authors_ndcg@4': (D[1] + (D[2] + D[3]) / (D[0] + D[1])) / 2,
    }
    for key, value in expect.items():
        assert out[key] == pytest.approx(value, abs=1e-6), key


def test_test_metrics_mask_train_and_valid_items(graph):
    out = evaluate(TableRanker(SCORES), graph, 'test', ks=(2, 4), authors_ndcg=True,
                   progress=False)
    # user 0: train 0 and valid 2 masked -> ranking 1, 3, 4, 5; held-out {1, 5} at ranks 1, 4.
    #         (without masking item 2 the top 4 would be 1, 2, 3, 4 and miss item 5)
    # user 1: train 5, 4 masked -> ranking 3, 2, 1, 0; held-out {0} at rank 4.
    assert out['num_users'] == 2
    expect = {
        'recall@2': (1 / 2 + 0) / 2, 'precision@2': (1 / 2 + 0) / 2, 'hit@2': 0.5,
        'ndcg@2': (D[0] / (D[0] + D[1])) / 2, 'authors_ndcg@2': (1.0 + 0) / 2,
        'recall@4': 1.0, 'precision@4': (2 / 4 + 1 / 4) / 2, 'hit@4': 1.0,
        'ndcg@4': ((D[0] + D[3]) / (D[0] + D[1]) + D[3] / D[0]) / 2,
        'authors_ndcg@4': ((D[0] + D[3]) / (D[0] + D[1]) + D[3] / D[0]) / 2,
    }
    for key, value in expect.items():
        assert out[key] == pytest.approx(value, abs=1e-6), key
    assert 'authors_ndcg@2' not in evaluate(TableRanker(SCORES), graph, 'test', ks=(2,),
                                            progress=False)


def test_k_beyond_item_count_and_default_ks(graph):
    out = evaluate(TableRanker(SCORES), graph, 'valid', progress=False)
    assert set(out) == {f'{m}@{k}' for m in ('recall', 'ndcg', 'precision', 'hit')
                        for k in (10, 20, 50)} | {'num_users'}
    assert out['recall@10'] == pytest.approx(1.0)
    assert out['precision@10'] == pytest.approx((1 / 10 + 2 / 10) / 2)  # hits / k


def test_user_batches_do_not_change_results(graph):
    a = evaluate(TableRanker(SCORES), graph, 'valid', ks=(2, 3), progress=False)
    b = evaluate(TableRanker(SCORES), graph, 'valid', ks=(2, 3), user_batch_size=1,
                 progress=False)
    assert a == pytest.approx(b)


def test_users_without_held_out_items_are_excluded():
    data, _ = graph_from_interactions([0, 0, 3], [0, 1, 2], [TRAIN, VALID, TRAIN], num_users=4,
                                      num_items=6)
    scores = torch.zeros(4, 6)
    scores[0, 1] = 1.0
    out = evaluate(TableRanker(scores), data, 'valid', ks=(1,), progress=False)
    assert out['num_users'] == 1 and out['recall@1'] == 1.0
    empty = evaluate(TableRanker(scores), data, 'test', ks=(1,), progress=False)
    assert empty['num_users'] == 0 and empty['recall@1'] == 0.0


def test_authors_ndcg_metric_alone():
    metric = LinkPredAuthorsNDCG(k=3)
    pred = torch.tensor([[4, 1, 2], [0, 5, 6], [7, 8, 9]])
    truth = torch.tensor([[0, 0, 0, 1, 1], [1, 8, 9, 6, 0]])  # user 2 has none
    metric.update(pred, truth)
    # user 0: one hit (rank 2) of 3 held-out -> D2 / D1, as if nothing was missed;
    # user 1: hits at ranks 1 and 3 -> (D1 + D3) / (D1 + D2)
    assert float(metric.compute()) == pytest.approx(
        (D[1] / D[0] + (D[0] + D[2]) / (D[0] + D[1])) / 2)


def test_ranking_metrics_rejects_bad_ks():
    with pytest.raises(ConfigError, match='ks'):
        ranking_metrics((0, 10))


@pytest.mark.parametrize('blocks', [(None, None, None), (7, 11, 1), (7, 11, 3), (1, 1, 2),
                                    (100, 1000, 2)])
def test_blocked_softplus_equals_naive(blocks):
    g = torch.Generator().manual_seed(0)
    user, item = torch.randn(37, 3, 5, generator=g), torch.randn(53, 3, 5, generator=g)
    naive = F.softplus(torch.einsum('bkd,ikd->bik', user, item)).sum(-1)  # [B, I, K]
    user_block, item_block, num_workers = blocks
    assert torch.allclose(chunk_scores(user, item, 'softplus', user_block=user_block,
                                       item_block=item_block, num_workers=num_workers),
                          naive, atol=1e-5)


def test_identity_path_is_one_matmul():
    g = torch.Generator().manual_seed(1)
    user, item = torch.randn(9, 4, 3, generator=g), torch.randn(13, 4, 3, generator=g)
    expect = user.reshape(9, 12) @ item.reshape(13, 12).t()
    assert torch.allclose(chunk_scores(user, item, 'identity'), expect, atol=1e-6)
    assert torch.allclose(expect, torch.einsum('bkd,ikd->bi', user, item), atol=1e-5)


def random_tables(activation: str, seed: int = 2) -> ChunkTables:
    g = torch.Generator().manual_seed(seed)  # 41 users, 59 items: no block size divides them
    return ChunkTables(torch.randn(41, 3, 6, generator=g), torch.randn(59, 3, 6, generator=g),
                       activation)


@pytest.mark.parametrize('activation', ['softplus', 'identity'])
@pytest.mark.parametrize('with_xi', [False, True])
def test_cached_item_layout_scores_bit_identical_to_the_function(activation, with_xi):
    tables = random_tables(activation)
    xi = torch.tensor([2.0, -1.0, 0.5]) if with_xi else None
    users = torch.tensor([40, 3, 0, 17, 3, 29, 8, 11, 35])
    for tiles in ({}, {'user_block': 4, 'item_block': 7}, {'user_block': 2, 'item_block': 13}):
        expect = chunk_scores(tables.user[users], tables.item, activation, xi, **tiles)
        for _ in range(2):  # the second call reuses the layout the first one made
            assert torch.equal(tables.scores(users, xi, **tiles), expect)
        given = item_layout(tables.item)
        assert torch.equal(chunk_scores(tables.user[users], tables.item, activation, xi,
                                        **tiles, layout=given), expect)
    top, idx = tables.full_sort(users, 5, xi=xi)
    expect = chunk_scores(tables.user[users], tables.item, activation, xi)  # default tiles
    assert torch.equal(top, expect.topk(5, dim=1).values)
    # the per-request path: one user's [K, I] terms from the same layout, then the xi sum
    terms = tables.user_terms(users)
    assert terms.shape == (users.numel(), 3, 59)
    assert torch.allclose(terms, tables.score_terms(users).transpose(1, 2), atol=1e-5)
    assert torch.allclose(tables.sum_terms(terms, xi), expect, atol=1e-5)
    assert torch.allclose(tables.sum_terms(terms[1], xi), expect[1], atol=1e-5)


def test_item_layout_made_once_and_never_stale():
    tables = random_tables('softplus')
    layout = tables.item_layout
    assert layout.shape == (3, 6, 59) and tables.item_layout is layout
    moved = tables.to('cpu')  # the same item tensor, but tables of its own, with their own layout
    assert moved.item_layout is not layout and torch.equal(moved.item_layout, layout)
    users = torch.arange(41)
    moved.item.mul_(-1.5)  # in place: both tables see it, neither keeps the old layout
    for t in (tables, moved):
        assert torch.equal(t.scores(users, item_block=8),
                           chunk_scores(t.user, t.item, 'softplus', item_block=8))
    tables.item = torch.randn(59, 3, 6)  # replaced
    assert torch.equal(tables.item_layout, item_layout(tables.item))
    assert torch.equal(tables.scores(users), chunk_scores(tables.user, tables.item))
    with pytest.raises(ConfigError, match='layout'):
        chunk_scores(tables.user, tables.item, layout=item_layout(tables.item[:58]))


def test_softplus_ranker_through_evaluate(graph):
    # one chunk of width I: softplus is monotone, so the ranking and metrics are unchanged
    a = evaluate(TableRanker(SCORES, 'softplus'), graph, 'test', ks=(2, 4), progress=False)
    b = evaluate(TableRanker(SCORES), graph, 'test', ks=(2, 4), progress=False)
    assert a == pytest.approx(b)


def test_a_model_is_evaluated_through_its_tables_of_the_train_graph(graph):
    model = TableModel(SCORES).train()
    out = evaluate(model, graph, 'test', ks=(2, 4), progress=False)
    assert out == pytest.approx(evaluate(TableRanker(SCORES), graph, 'test', ks=(2, 4),
                                         progress=False))
    (seen, training), = model.calls  # tables computed once, in eval mode ...
    assert not training and model.training  # ... and the mode restored
    assert isinstance(seen, TrainGraph)
    assert sorted(seen.edge_index.t().tolist()) == sorted(map(list, EDGES[TRAIN]))
    given = TrainGraph.from_data(graph)
    evaluate(model, graph, 'valid', ks=(2,), progress=False, graph=given)
    assert model.calls[-1][0] is given


def test_bad_arguments_and_state_restored(graph):
    with pytest.raises(ConfigError, match='split'):
        evaluate(TableRanker(SCORES), graph, 'train', progress=False)
    with pytest.raises(ConfigError, match='chunk activation'):
        TableRanker(SCORES, 'relu')
    with pytest.raises(ConfigError, match='chunk activation'):
        chunk_scores(torch.zeros(2, 1, 4), torch.zeros(5, 1, 4), 'relu')
    with pytest.raises(ConfigError, match='same'):
        chunk_scores(torch.zeros(2, 3, 4), torch.zeros(5, 2, 4))
    with pytest.raises(ConfigError, match='5 rows for 6 items'):
        evaluate(TableRanker(SCORES[:, :5]), graph, progress=False)
    threads = torch.get_num_threads()
    evaluate(TableRanker(SCORES), graph, progress=False, num_threads=1)
    assert torch.get_num_threads() == threads
