import json

import pytest
import torch

from addrl_graph.data.schema import (INTERACTS, META_FILE, TRAIN, has_edge, load_graph, save_graph,
                              split_edges, validate_graph)
from addrl_graph.errors import GraphSchemaError


def test_round_trip_weights_only(tmp_path, tiny_graph):
    data, meta = tiny_graph
    save_graph(tmp_path, data, meta)
    loaded, loaded_meta = load_graph(tmp_path)
    assert loaded_meta['users'] == meta['users']
    assert torch.equal(loaded['item'].attr, data['item'].attr)
    assert torch.equal(loaded[INTERACTS].edge_index, data[INTERACTS].edge_index)
    assert torch.equal(split_edges(loaded, TRAIN), split_edges(data, TRAIN))
    assert loaded[has_edge('brand')].edge_index.size(1) == data['item'].num_nodes
    assert not list(tmp_path.glob('*.tmp'))


def test_missing_folder_names_the_file(tmp_path):
    with pytest.raises(GraphSchemaError, match='graph.pt not found'):
        load_graph(tmp_path)


def test_corrupted_graph_detected(tmp_path, tiny_graph):
    save_graph(tmp_path, *tiny_graph)
    path = tmp_path / 'graph.pt'
    payload = bytearray(path.read_bytes())
    payload[len(payload) // 2] ^= 0xFF
    path.write_bytes(bytes(payload))
    with pytest.raises(GraphSchemaError, match='checksum'):
        load_graph(tmp_path)


def test_meta_mismatch_detected(tmp_path, tiny_graph):
    data, meta = tiny_graph
    save_graph(tmp_path, data, meta)
    stored = json.loads((tmp_path / META_FILE).read_text())
    stored['users'] = stored['users'][:-1]
    (tmp_path / META_FILE).write_text(json.dumps(stored))
    with pytest.raises(GraphSchemaError, match='user.num_nodes'):
        load_graph(tmp_path)


@pytest.mark.parametrize('break_it, message', [
    (lambda d: setattr(d['item'], 'attr', d['item'].attr[:, :1]), 'item.attr'),
    (lambda d: d['item'].attr.__setitem__((0, 1), 99), 'outside'),
    (lambda d: setattr(d['item'], 'has_text', d['item'].has_text.long()), 'has_text'),
    (lambda d: setattr(d['item'], 'x_text', d['item'].x_text.double()), 'x_text'),
    (lambda d: d['item'].x_image.__setitem__((0, 0), float('nan')), 'NaN'),
    (lambda d: d[INTERACTS].split.__setitem__(0, 7), 'split'),
    (lambda d: d[INTERACTS].edge_index.__setitem__((1, 0), 999), 'outside'),
    (lambda d: delattr(d[has_edge('price')], 'edge_index'), 'price'),
])
def test_schema_violations_are_named(tiny_graph, break_it, message):
    data, meta = tiny_graph
    break_it(data)
    with pytest.raises(GraphSchemaError, match=message):
        validate_graph(data, meta)


@pytest.mark.parametrize('name', ['item', 'user', 'others', 'others_2'])
def test_reserved_attribute_names(tiny_graph, name):
    data, meta = tiny_graph
    meta = dict(meta, attributes=[{'name': name, 'values': ['x', 'y']}])
    with pytest.raises(GraphSchemaError, match=f"may not be \\['{name}'\\]"):
        validate_graph(data, meta)
