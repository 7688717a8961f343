import math

import numpy as np
import pytest

from data_builders.attributes import (AttributeConfig, LevelBinner, Vocabulary, attribute_name,
                                      category_of, derive_attributes)
from data_builders.errors import DataBuildError
from data_builders.readers.records import ItemMeta


def test_level_binner_equal_frequency_and_unknown():
    binner = LevelBinner(5, '{lo:g}-{hi:g}').fit(np.array([*range(1, 11), math.nan]))
    assert binner.values_ == ['1-2', '3-4', '5-6', '7-8', '9-10', 'unknown']
    codes = binner.transform(np.array([1, 2, 3, 10, 99, math.nan, -5]))
    assert codes.tolist() == [0, 0, 1, 4, 4, 5, 0]


def test_level_binner_keeps_ties_together_and_round_trips():
    values = np.array([5] * 50 + [6] * 30 + [7] * 10 + [20] * 10, dtype=float)
    binner = LevelBinner(5).fit(values)
    codes = binner.transform(values)
    for v in (5, 6, 7, 20):
        assert len(set(codes[values == v])) == 1
    again = LevelBinner.from_dict(binner.to_dict())
    assert again.values_ == binner.values_
    assert np.array_equal(again.transform(values), codes)


def test_vocabulary_rare_and_missing():
    vocab = Vocabulary(min_count=2).fit(['a', 'a', 'b', None, 'c', 'c', ''])
    assert vocab.values_ == ['a', 'c', 'other', 'unknown']
    assert vocab.transform(['a', 'b', None, 'new']).tolist() == [0, 2, 3, 2]
    again = Vocabulary.from_dict(vocab.to_dict(), vocab.values_)
    assert again.transform(['c']).tolist() == [1]


def test_vocabulary_without_slots_rejects_unseen():
    vocab = Vocabulary().fit(['a', 'b'])
    assert vocab.values_ == ['a', 'b']
    with pytest.raises(DataBuildError, match='vocabulary'):
        vocab.transform(['z'])


def test_category_of_leaf_and_depth():
    meta = ItemMeta('x', categories=[['Sports'], ['Sports', 'Outdoor', 'Fishing']])
    assert category_of(meta) == 'Fishing'
    assert category_of(meta, depth=1) == 'Outdoor'
    assert category_of(meta, depth=9) == 'Fishing'
    assert category_of(ItemMeta('y')) is None
    assert category_of(None) is None


def _metas():
    return [ItemMeta(f'i{i}', price=float(i + 1), brand=f'b{i % 3}',
                     categories=[['Root', 'Same']], extra={'Material': 'steel' if i % 2 else 'wood'})
            for i in range(20)] + [ItemMeta('bare')]


def test_derive_attributes_drops_single_valued(caplog):
    config = AttributeConfig(names=['price', 'popularity', 'brand', 'category', 'extra:Material'],
                             brand_min_count=1)
    counts = np.arange(21)
    attr, entries, dropped = derive_attributes(_metas(), counts, config)
    assert dropped == ['category']          # 'Same' and 'unknown' only
    names = [e['name'] for e in entries]
    assert names == ['price', 'popularity', 'brand', 'material']
    assert attr.shape == (21, 4)
    assert entries[0]['values'][-1] == 'unknown' and attr[-1, 0] == len(entries[0]['values']) - 1
    assert entries[2]['values'] == ['b0', 'b1', 'b2', 'unknown']
    assert sum(entries[1]['item_counts']) == 21
    assert entries[1]['fit']['upper_edges'] == sorted(entries[1]['fit']['upper_edges'])


def test_popularity_from_sales_rank_orders_smaller_rank_higher():
    metas = [ItemMeta(f'i{i}', sales_rank=r) for i, r in enumerate([1, 10, 100, 1000, 10000])]
    config = AttributeConfig(names=['popularity'], popularity_source='sales_rank')
    attr, entries, _ = derive_attributes(metas, np.zeros(5), config)
    assert attr[:, 0].tolist() == [4, 3, 2, 1, 0]


def test_config_errors_name_the_option():
    with pytest.raises(DataBuildError, match='--attributes'):
        AttributeConfig(names=['colour']).validate()
    with pytest.raises(DataBuildError, match='--popularity-source'):
        AttributeConfig(popularity_source='clicks').validate()
    assert attribute_name('extra:Item Weight') == 'item_weight'


def test_popularity_from_interactions_has_no_unknown_value():
    config = AttributeConfig(names=['popularity'])
    attr, entries, _ = derive_attributes([None] * 10, np.arange(10), config)
    assert 'unknown' not in entries[0]['values']
    assert len(entries[0]['values']) == 5
    binner = LevelBinner(5, keep_unknown=False).fit(np.arange(10.))
    with pytest.raises(DataBuildError, match='unknown'):
        binner.transform(np.array([math.nan]))
