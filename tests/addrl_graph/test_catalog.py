"""Item titles and image URLs (ItemCatalog), short unambiguous names, optional meta keys."""
import json
import random

import pytest

from addrl_graph import load_graph
from addrl_graph.data.catalog import (ItemCatalog, cut, is_catch_all, short_names)
from addrl_graph.data.schema import check_meta
from addrl_graph.errors import GraphSchemaError
from addrl_graph.testing import save_tiny_graph, tiny_graph


def _reads_as(label, name):
    """Whether a shortened ``label`` (``head…tail``) can be read as ``name``."""
    if '…' not in label:
        return label == name
    head, tail = label.split('…')
    return len(name) >= len(head) + len(tail) and name.startswith(head) and name.endswith(tail)


def test_prefix_sharing_names_stay_apart():
    names = ['Nail Polish', 'Nail Polish Remover', 'Nail Polish Remover Pads', 'Nails']
    short = short_names(names, 12)
    assert short[0] == 'Nail Polish' and short[3] == 'Nails'       # fit: kept whole
    assert short[1] == 'Nail…Remover'                               # a plain cut reads alike
    assert all(len(s) <= 12 for s in short)
    for label in short:        # every label reads as exactly one of the names: its own
        assert [n for n in names if _reads_as(label, n)] == [names[short.index(label)]]


def test_short_names_on_many_real_looking_values():
    names = [f'Brand {c} Cosmetics {n}' for c in 'ABC' for n in ('Paris', 'Pro', 'Professional')]
    names += ['Mario Badescu', 'Mario Badescu Skincare', 'other', 'unknown']
    for width in (8, 12, 16):
        short = short_names(names, width)
        assert len(set(short)) == len(names)
        for label, name in zip(short, names):
            assert [n for n in names if _reads_as(label, n)] == [name], (width, label)
    # names that differ only in their middle cannot be cut apart: kept whole, not ambiguous
    twins = ['Alpha Beta Gamma 1 Delta Epsilon', 'Alpha Beta Gamma 2 Delta Epsilon']
    assert short_names(twins, 10) == twins
    with pytest.raises(ValueError, match='width'):
        short_names(names, 3)


def test_random_vocabulary_reads_unambiguously():
    rng = random.Random(0)
    words = 'Nail Polish Remover Pads Gel Top Base Hair Color Cream Oil Face Eye'.split()
    names = sorted({' '.join(rng.choice(words) for _ in range(rng.randint(1, 5)))
                    for _ in range(400)})
    for width in (10, 16):
        for label, name in zip(short_names(names, width), names):
            assert [n for n in names if _reads_as(label, n)] == [name], (width, label)


def test_cut_and_catch_all():
    assert cut('Amazon eGift Card', 10) == 'Amazon eG…' and len(cut('x' * 50, 10)) == 10
    assert cut('short', 10) == 'short' and cut('whole title', None) == 'whole title'
    assert is_catch_all('unknown') and is_catch_all('other')
    assert not is_catch_all('Other Brand') and not is_catch_all('$0.01-$5.36')


def test_catalog_with_and_without_titles():
    _, meta = tiny_graph()
    old = ItemCatalog.from_meta(meta)                   # a graph built before titles
    assert not old.has_titles and old.title(0) is None and old.image_url('I003') is None
    assert old.label(3) == 'I003' and old.label('I003') == 'I003'
    titles = [f'Item number {i} with a long title' if i % 3 else None for i in range(10)]
    urls = [f'https://example.org/{i}.jpg' if i % 2 else None for i in range(10)]
    cat = ItemCatalog.from_meta(dict(meta, item_titles=titles, item_image_urls=urls))
    assert cat.has_titles and len(cat) == 10
    assert cat.title(1) == 'Item number 1 with a long title' and cat.title('I000') is None
    assert cat.label(0) == 'I000' and cat.label(2, width=12) == 'Item number…'
    assert cat.image_url(1) == 'https://example.org/1.jpg' and cat.image_url(2) is None
    shown = {1: 'Item number 1 with a long title', 7: 'Item number 7 with a long title, gold',
             2: 'Item number 1 with a long title, gold', 4: None}
    listed = ItemCatalog.from_meta(dict(meta, item_titles=[shown.get(i) for i in range(10)]))
    labels = listed.short_labels(list(shown), 16)
    assert labels[-1] == 'I004' and all(len(label) <= 16 for label in labels)
    for label, title in zip(labels[:3], list(shown.values())[:3]):    # one reading each
        assert [t for t in list(shown.values())[:3] if _reads_as(label, t)] == [title]
    with pytest.raises(KeyError, match='NOPE'):
        cat.title('NOPE')
    with pytest.raises(IndexError, match=r'\[0, 10\)'):
        cat.label(10)


def test_graph_without_titles_loads_and_hand_edits_are_named(tmp_path):
    path = save_tiny_graph(tmp_path / 'g')
    _, meta = load_graph(path)
    assert 'item_titles' not in meta and ItemCatalog.from_meta(meta).label(0) == 'I000'
    check_meta(dict(meta, item_titles=[None] * 10, item_image_urls=['http://x/y.png'] * 10))
    for bad in ([None] * 9, ['t'] * 9 + [3], 'a title'):
        with pytest.raises(GraphSchemaError, match='item_titles must be a list of strings or '
                                                   r'nulls, one per item \(10\)'):
            check_meta(dict(meta, item_titles=bad))
    saved = json.loads((path / 'meta.json').read_text())
    saved['item_image_urls'] = {'I000': 'http://x'}
    (path / 'meta.json').write_text(json.dumps(saved))
    with pytest.raises(GraphSchemaError, match='meta.json: item_image_urls must be'):
        load_graph(path)
