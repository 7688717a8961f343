"""Test factories: tiny graphs are valid, reproducible, split for evaluation, and written as
folders the trainer reads; config factories; no dependency on data_builders."""
import subprocess
import sys

import pytest
import torch

from addrl_graph.data.schema import (INTERACTS, TEST, TRAIN, VALID, has_edge, load_graph,
                                     validate_graph)
from addrl_graph.testing import (PAPER_MODEL, SMALL_PRESET_MODEL, graph_from_interactions,
                                 paper_config, save_tiny_graph, small_preset_config, tiny_graph)


def users_with(data, split):
    store = data[INTERACTS]
    return set(store.edge_index[0, store.split == split].tolist())


def test_tiny_graph_is_valid_and_reproducible():
    data, meta = tiny_graph()
    validate_graph(data, meta)
    assert (data['user'].num_nodes, data['item'].num_nodes) == (12, 10)
    assert data[INTERACTS].num_edges == 60
    again, other = tiny_graph()[0], tiny_graph(seed=1)[0]
    assert all(torch.equal(a, b) for a, b in zip(data.to_dict().values(),
                                                  again.to_dict().values()) if torch.is_tensor(a))
    assert not torch.equal(data[INTERACTS].edge_index, other[INTERACTS].edge_index)
    pairs = data[INTERACTS].edge_index.t().tolist()
    assert len({tuple(p) for p in pairs}) == len(pairs)          # no repeated interaction


@pytest.mark.parametrize('per_user', [3, 5, 10])
def test_every_user_has_train_validation_and_test_items(per_user):
    data, _ = tiny_graph(num_users=20, num_items=12, per_user=per_user)
    for split in (TRAIN, VALID, TEST):
        assert users_with(data, split) == set(range(20))


def test_every_item_has_a_training_interaction_where_possible():
    for kwargs in ({}, dict(num_users=60, num_items=40, per_user=10)):
        data, _ = tiny_graph(**kwargs)
        store = data[INTERACTS]
        items = store.edge_index[1, store.split == TRAIN].unique()
        assert items.numel() == data['item'].num_nodes


def test_few_interactions_keep_a_training_item():
    assert users_with(tiny_graph(per_user=1)[0], TRAIN) == set(range(12))
    two = tiny_graph(per_user=2)[0]
    assert users_with(two, TRAIN) == users_with(two, TEST) == set(range(12))
    assert not users_with(two, VALID)
    with pytest.raises(ValueError, match='per_user'):
        tiny_graph(num_items=4, per_user=5)


def test_features_miss_for_some_items_and_attributes_follow_the_request():
    data, meta = tiny_graph(d_t=3, d_v=0, attributes={'color': 5})
    item = data['item']
    assert tuple(item.x_text.shape) == (10, 3) and tuple(item.x_image.shape) == (10, 0)
    assert 0 < int(item.has_text.sum()) < 10 and not item.has_image.any()
    assert not item.x_text[~item.has_text].any()                  # zero rows, as a build writes
    assert meta['attributes'] == [{'name': 'color', 'values': [f'v{j}' for j in range(5)]}]
    assert data['color'].num_nodes == 5 and data[has_edge('color')].num_edges == 10
    assert meta['text_encoder']['name'] == 'random' and meta['image_encoder']['name'] == 'none'


def test_meta_stats_describe_the_graph():
    data, meta = tiny_graph()
    stats = meta['stats']
    assert (stats['users'], stats['items'], stats['interactions']) == (12, 10, 60)
    assert stats['train'] + stats['valid'] + stats['test'] == 60
    assert stats['values_per_attribute'] == {'price': 3, 'brand': 4}
    assert (stats['text_dim'], stats['image_dim']) == (6, 4)
    assert stats['items_with_text'] == int(data['item'].has_text.sum())
    from addrl_graph.training.compare_report import markdown_report
    summary = {'reference': 'addrl', 'seeds': [0], 'pairing': '', 'alpha': 0.05, 'rows': []}
    assert '12 users, 10 items, 60 interactions' in markdown_report(summary, meta, 'tiny')


def test_saved_tiny_graph_loads(tmp_path):
    path = save_tiny_graph(tmp_path / 'graph', num_users=5, per_user=4, seed=3)
    data, meta = load_graph(path)
    expected, _ = tiny_graph(num_users=5, per_user=4, seed=3)
    assert torch.equal(data[INTERACTS].edge_index, expected[INTERACTS].edge_index)
    assert torch.equal(data['item'].x_text, expected['item'].x_text)
    assert meta['users'] == [f'U{u}' for u in range(5)]


def test_graph_from_interactions_fills_in_the_schema():
    data, meta = graph_from_interactions(torch.tensor([0, 0, 1]), torch.tensor([1, 2, 0]),
                                         torch.tensor([TRAIN, TEST, TRAIN]), num_users=2,
                                         num_items=3, attributes={'price': 2})
    validate_graph(data, meta)
    assert data['item'].x_text.shape == (3, 0) and not data['item'].has_text.any()
    assert data['item'].attr.tolist() == [[0], [0], [0]]
    assert torch.equal(data['item', 'rev_interacts', 'user'].edge_index,
                       data[INTERACTS].edge_index.flip(0))
    assert meta['items'] == ['I000', 'I001', 'I002']


def test_config_factories_apply_overrides():
    c = paper_config(d_chunk=8)
    assert (c.id_encoder, c.free_chunks, c.d_chunk) == ('embedding', 1, 8)
    assert paper_config() == paper_config(**PAPER_MODEL)
    s = small_preset_config(ablation='no-high')
    assert s.ablation == 'no-high' and s.d_chunk == SMALL_PRESET_MODEL['d_chunk']


def test_testing_does_not_import_data_builders():
    code = ('import sys, addrl_graph.testing; '
            'sys.exit(any(m.split(".")[0] == "data_builders" for m in sys.modules))')
    assert subprocess.run([sys.executable, '-c', code]).returncode == 0
