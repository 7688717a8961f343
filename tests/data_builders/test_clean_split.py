import numpy as np
import pandas as pd
import pytest

from data_builders.clean import drop_duplicate_pairs, k_core
from data_builders.errors import DataBuildError
from data_builders.split import split_interactions


def test_duplicates_keep_earliest():
    frame = pd.DataFrame({'user': ['a', 'a', 'b', 'a'], 'item': ['x', 'x', 'x', 'y'],
                          'timestamp': [5, 3, 1, None]})
    kept, dropped = drop_duplicate_pairs(frame)
    assert dropped == 1
    assert kept.loc[kept.user.eq('a') & kept.item.eq('x'), 'timestamp'].item() == 3


def test_k_core_is_iterative():
    # u4 has 1 item → dropped; then z has 1 user → dropped; then u3 has 1 item → dropped.
    edges = [('u1', 'x'), ('u1', 'y'), ('u2', 'x'), ('u2', 'y'), ('u3', 'y'), ('u3', 'z'),
             ('u4', 'z')]
    kept = k_core(pd.DataFrame(edges, columns=['user', 'item']), 2)
    assert set(kept.user) == {'u1', 'u2'}
    assert set(kept.item) == {'x', 'y'}
    assert len(kept) == 4


def test_k_core_matches_networkx_core():
    import networkx as nx
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({'user': rng.integers(0, 60, 400).astype(str),
                          'item': ('i' + pd.Series(rng.integers(0, 50, 400).astype(str)))})
    frame, _ = drop_duplicate_pairs(frame.assign(timestamp=0))
    kept = k_core(frame, 4)
    graph = nx.Graph(list(zip('u' + frame.user, frame.item)))
    core = nx.k_core(graph, 4)
    assert set('u' + kept.user) | set(kept.item) == set(core.nodes)


def test_k_core_nothing_left():
    with pytest.raises(DataBuildError, match='k-core'):
        k_core(pd.DataFrame({'user': ['a'], 'item': ['x']}), 5)


@pytest.mark.parametrize('protocol', ['paper', 'random-811'])
def test_split_ratios_and_train_per_user(protocol):
    rng = np.random.default_rng(1)
    user = np.repeat(np.arange(2000), rng.integers(5, 40, 2000))
    split = split_interactions(user, protocol, seed=3)
    share = np.bincount(split, minlength=3) / len(split)
    expected = {'paper': (0.72, 0.08, 0.20), 'random-811': (0.8, 0.1, 0.1)}[protocol]
    assert np.allclose(share, expected, atol=0.02)
    train_per_user = np.bincount(user[split == 0], minlength=2000)
    assert train_per_user.min() >= 1
    assert np.array_equal(split, split_interactions(user, protocol, seed=3))
    assert not np.array_equal(split, split_interactions(user, protocol, seed=4))


def test_split_unknown_protocol():
    with pytest.raises(DataBuildError, match='--split'):
        split_interactions(np.zeros(3, dtype=int), 'random')
