"""Tests of the synthetic Amazon-2014 generator (small preset only: about a second each).

Properties are checked against the written files, read back independently (``json.loads`` and
``ast.literal_eval``), not against the generator's internals.
"""
from __future__ import annotations

import ast
import gzip
import json
import re
from collections import Counter, defaultdict
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from data_builders.errors import DataBuildError
from data_builders.synthetic import (PRESETS, SyntheticConfig, equal_frequency_levels, generate,
                                     rank_curve_counts)
from data_builders.synthetic.render import CATEGORIES, CATEGORY_COLOURS

SMALL = PRESETS['small']


def _levels(values: np.ndarray, num_levels: int = 5) -> np.ndarray:
    """Equal-frequency levels written out independently: rank with ties at their lowest."""
    ordered = sorted(values)
    first = {}
    for rank, v in enumerate(ordered):
        first.setdefault(v, rank)
    return np.array([first[v] * num_levels // len(values) for v in values])


@pytest.fixture(scope='module')
def dump(tmp_path_factory: pytest.TempPathFactory) -> dict:
    out = tmp_path_factory.mktemp('synthetic')
    summary = generate(out, 'small', seed=0, images=True, progress=False)
    with gzip.open(out / 'reviews.json.gz', 'rt', encoding='utf-8') as fh:
        reviews = [json.loads(line) for line in fh]
    with gzip.open(out / 'meta.json.gz', 'rt', encoding='utf-8') as fh:
        meta_lines = fh.read().splitlines()
    meta = [ast.literal_eval(line) for line in meta_lines]
    truth = json.loads((out / 'ground_truth.json').read_text())
    pairs: dict[tuple[str, str], int] = {}
    for r in reviews:            # earliest review of each pair, as de-duplication keeps
        key = (r['reviewerID'], r['asin'])
        pairs[key] = min(pairs.get(key, r['unixReviewTime']), r['unixReviewTime'])
    return {'out': out, 'summary': summary, 'reviews': reviews, 'meta_lines': meta_lines,
            'meta': {m['asin']: m for m in meta}, 'truth': truth, 'pairs': pairs}


def test_reviews_are_2014_json_lines(dump: dict) -> None:
    fields = {'reviewerID', 'asin', 'overall', 'unixReviewTime', 'reviewText', 'summary',
              'reviewerName'}
    for r in dump['reviews']:
        assert fields <= set(r)
        assert re.fullmatch(r'A[0-9A-Z]{13}', r['reviewerID'])
        assert re.fullmatch(r'B00[0-9A-Z]{7}', r['asin'])
        assert r['overall'] in {1.0, 2.0, 3.0, 4.0, 5.0} and r['reviewText'] and r['summary']
        assert 1041379200 <= r['unixReviewTime'] <= 1406073600 + 60 * 86400
    ratings = Counter(r['overall'] for r in dump['reviews'])
    assert (ratings[3.0] + ratings[4.0] + ratings[5.0]) / len(dump['reviews']) > 0.85


def test_meta_is_python_literal_per_line(dump: dict) -> None:
    assert all(line.startswith("{'asin': 'B00") for line in dump['meta_lines'])
    with pytest.raises(json.JSONDecodeError):        # single quotes, as the real dumps
        json.loads(dump['meta_lines'][0])
    meta = dump['meta'].values()
    for m in meta:
        assert isinstance(m['title'], str) and m['title']
        assert m['categories'][0][0] == 'Sports & Outdoors' and len(m['categories'][0]) == 3
        assert all(isinstance(c, str) for path in m['categories'] for c in path)
        if 'price' in m:
            assert isinstance(m['price'], float) and m['price'] > 0
        if 'salesRank' in m:
            assert list(m['salesRank']) == ['Sports &amp; Outdoors']
            assert m['salesRank']['Sports &amp; Outdoors'] >= 1
        if 'imUrl' in m:
            assert re.fullmatch(r'http://ecx\.images-amazon\.com/images/I/\w{10}L\._SY300_\.jpg',
                                m['imUrl'])
        assert set(m.get('related', {})) <= {'also_bought', 'also_viewed', 'bought_together'}
    n_meta = len(dump['meta'])
    assert n_meta == SMALL.num_items - round(SMALL.missing_meta * SMALL.num_items) == 495
    assert 0.05 < sum('brand' not in m for m in meta) / n_meta < 0.15
    assert 0.05 < sum('price' not in m for m in meta) / n_meta < 0.15
    assert len({m['brand'] for m in meta if 'brand' in m}) == SMALL.num_brands
    assert len({m['categories'][0][-1] for m in meta}) == SMALL.num_categories


def test_exact_totals_min_degrees_and_duplicates(dump: dict) -> None:
    pairs = dump['pairs']
    users = Counter(u for u, _ in pairs)
    items = Counter(i for _, i in pairs)
    assert (len(users), len(items), len(pairs)) == (600, 500, 6000)
    assert min(users.values()) >= SMALL.min_interactions
    assert min(items.values()) >= SMALL.min_interactions
    extra = len(dump['reviews']) - len(pairs)
    assert extra == dump['summary']['duplicate_lines'] == round(0.005 * 6000)
    s = dump['summary']
    assert (s['users'], s['items'], s['interactions'], s['review_lines']) == (
        600, 500, 6000, len(dump['reviews']))
    assert set(dump['meta']) <= set(items)              # no metadata for unreviewed items


def test_timestamps_strictly_increase_per_user(dump: dict) -> None:
    per_user = defaultdict(list)
    for (u, _), ts in dump['pairs'].items():
        per_user[u].append(ts)
    for times in per_user.values():
        assert len(set(times)) == len(times)            # a strict order of the user's items
    first = dump['pairs']
    repeats = [r for r in dump['reviews']
               if r['unixReviewTime'] != first[(r['reviewerID'], r['asin'])]]
    assert len(repeats) == dump['summary']['duplicate_lines']   # repeats come later


def test_same_seed_same_bytes_other_seed_differs(dump: dict, tmp_path: Path) -> None:
    again = generate(tmp_path / 'a', 'small', seed=0, images=False, progress=False)
    other = generate(tmp_path / 'b', 'small', seed=1, images=False, progress=False)
    for name in ('reviews.json.gz', 'meta.json.gz', 'ground_truth.json'):
        assert (tmp_path / 'a' / name).read_bytes() == (dump['out'] / name).read_bytes()
        assert (tmp_path / 'b' / name).read_bytes() != (dump['out'] / name).read_bytes()
    assert again['interactions'] == other['interactions'] == 6000
    assert 'images' not in again['paths'] and not (tmp_path / 'a' / 'images').exists()


def test_small_preset_is_fast(dump: dict) -> None:
    assert dump['summary']['seconds']['total'] < 5.0


def _item_values(dump: dict) -> dict[str, dict[str, object]]:
    """Attribute values of every item as a builder would derive them from the files."""
    counts = Counter(i for _, i in dump['pairs'])
    asins = sorted(counts)
    popularity = dict(zip(asins, _levels(np.array([counts[a] for a in asins]))))
    priced = sorted(a for a in asins if 'price' in dump['meta'].get(a, {}))
    price = dict(zip(priced, _levels(np.array([dump['meta'][a]['price'] for a in priced]))))
    values = {}
    for a in asins:
        m = dump['meta'].get(a, {})
        values[a] = {'brand': m.get('brand'),
                     'category': m['categories'][0][-1] if m else None,
                     'price': price.get(a), 'popularity': popularity[a]}
    return values


def test_planted_preferences_are_visible_in_the_files(dump: dict) -> None:
    values = _item_values(dump)
    items_of = defaultdict(list)
    for u, i in dump['pairs']:
        items_of[u].append(i)
    strength = SMALL.preference_strength
    shares = defaultdict(list)
    for u, pref in dump['truth']['users'].items():
        a, v = pref['attribute'], pref['value']
        hits = sum(values[i][a] == v for i in items_of[u])
        assert hits >= pref['planted']
        shares[a].append(hits / len(items_of[u]))
    assert set(shares) == {'price', 'popularity', 'brand', 'category'}
    for a, s in shares.items():
        assert min(s) >= strength - 0.15, a             # rounding of 0.7 * 5..40 items
        assert np.mean(s) >= strength, a
    # Control: the same brand shares for users who were *not* planted on brands are small.
    brand_users = [(u, p['value']) for u, p in dump['truth']['users'].items()
                   if p['attribute'] == 'brand']
    others = [u for u, p in dump['truth']['users'].items() if p['attribute'] != 'brand']
    rng = np.random.default_rng(0)
    control = [np.mean([values[i]['brand'] == brand_users[rng.integers(len(brand_users))][1]
                        for i in items_of[u]]) for u in others]
    assert np.mean(control) < 0.15


def test_ground_truth_matches_meta_and_interactions(dump: dict) -> None:
    truth, values = dump['truth'], _item_values(dump)
    counts = Counter(i for _, i in dump['pairs'])
    assert truth['preset'] == 'small' and truth['seed'] == 0
    assert truth['preference_strength'] == SMALL.preference_strength == 0.7
    assert truth['attributes'] == ['price', 'popularity', 'brand', 'category']
    assert set(truth['items']) == set(counts) and len(truth['users']) == 600
    for a, item in truth['items'].items():
        m = dump['meta'].get(a)
        assert item['has_meta'] == (m is not None)
        assert item['brand'] == values[a]['brand']
        assert item['category'] == values[a]['category']
        assert item['price'] == (m or {}).get('price')
        assert item['price_band'] == values[a]['price']
        assert item['popularity_band'] == values[a]['popularity']
        assert item['interactions'] == counts[a]
        if item['has_meta']:
            assert item['has_image'] == ('imUrl' in m)
    bands = truth['price_bands']
    assert [b['items'] for b in bands] == [89] * 5      # equal item counts
    assert all(bands[k]['high'] < bands[k + 1]['low'] for k in range(4))   # no overlap
    used = {b['band'] for b in truth['popularity_bands']}
    assert {i['popularity_band'] for i in truth['items'].values()} == used
    assert truth['popular_band'] == max(used)
    degree = Counter(u for u, _ in dump['pairs'])
    assert all(p['interactions'] == degree[u] for u, p in truth['users'].items())


def test_text_carries_the_attributes(dump: dict) -> None:
    truth = dump['truth']['items']
    cheap, luxury = defaultdict(int), defaultdict(int)
    for r in dump['reviews']:
        band = truth[r['asin']]['price_band']
        text = r['reviewText'].lower()
        if band in (0, 4):
            (cheap if band == 0 else luxury)['cheap' if ' cheap' in text or 'bargain' in text
                                             else 'luxury' if 'luxury' in text or 'premium'
                                             in text else 'none'] += 1
    assert cheap['cheap'] > 10 * max(cheap['luxury'], 1)
    assert luxury['luxury'] > 10 * max(luxury['cheap'], 1)
    for a, m in dump['meta'].items():
        if 'brand' in m:
            assert m['title'].startswith(m['brand'] + ' ')
        leaf = m['categories'][0][-1]
        nouns = next(c[2] for c in CATEGORIES if c[0] == leaf)
        assert any(n.lower() in m['title'].lower() for n in nouns)
    brand_mentions = sum(truth[r['asin']]['brand'] is not None
                         and truth[r['asin']]['brand'] in r['reviewText']
                         for r in dump['reviews'])
    assert brand_mentions > 0.3 * len(dump['reviews'])


def test_images_decode_and_encode_category_brand_and_price(dump: dict) -> None:
    folder = dump['out'] / 'images'
    truth = dump['truth']['items']
    files = {p.stem: p for p in folder.iterdir()}
    assert set(files) == {a for a, i in truth.items() if i['has_image']}
    assert len(files) == 500 - round(SMALL.missing_image * 500)
    leaves = [c[0] for c in CATEGORIES]
    corner_by_cat = defaultdict(set)
    pixels = {}
    for a, path in files.items():
        with Image.open(path) as im:
            assert im.format == 'PNG' and im.size == (32, 32) and im.mode == 'RGB'
            arr = np.asarray(im)
        pixels[a] = arr
        cat = truth[a]['category']
        if cat is not None:
            corner_by_cat[cat].add(tuple(int(x) for x in arr[0, 0]))
            assert tuple(arr[0, 0]) == CATEGORY_COLOURS[leaves.index(cat)]
    assert all(len(c) == 1 for c in corner_by_cat.values())            # one colour per category
    assert len({next(iter(c)) for c in corner_by_cat.values()}) == SMALL.num_categories
    # Larger price band → larger drawn shape (share of non-background pixels).
    covered = defaultdict(list)
    for a, arr in pixels.items():
        if truth[a]['price_band'] is not None:
            covered[truth[a]['price_band']].append((arr != arr[0, 0]).any(axis=2).mean())
    means = [np.mean(covered[b]) for b in range(5)]
    assert means[0] < means[2] < means[3]


def test_rank_curve_counts_meet_total_and_bounds() -> None:
    counts = rank_curve_counts(1000, 5800, 5, 200, 0.4)
    assert counts.sum() == 5800 and counts.min() >= 5 and counts.max() <= 200
    assert counts[0] > counts[-1]
    with pytest.raises(DataBuildError):
        rank_curve_counts(10, 40, 5, 100, 0.5)
    values = np.array([5, 5, 5, 6, 9, 9, 7, 5, 12, 30])
    assert equal_frequency_levels(values).tolist() == _levels(values).tolist()


def test_config_errors_name_the_field(tmp_path: Path) -> None:
    with pytest.raises(DataBuildError, match='num_interactions'):
        generate(tmp_path, replace(SMALL, num_interactions=100), progress=False)
    with pytest.raises(DataBuildError, match='num_categories'):
        generate(tmp_path, replace(SMALL, num_categories=99), progress=False)
    with pytest.raises(DataBuildError, match='preset'):
        generate(tmp_path, 'nope', progress=False)
    assert not any(tmp_path.iterdir())


def test_custom_config_and_sports_preset_shape(tmp_path: Path) -> None:
    cfg = SyntheticConfig(num_users=80, num_items=60, num_interactions=700, num_brands=8,
                          num_categories=3, max_user_degree=20, preference_strength=0.5)
    s = generate(tmp_path, cfg, seed=3, images=False, progress=False)
    assert (s['preset'], s['seed'], s['interactions'], s['brands']) == ('custom', 3, 700, 8)
    sports = PRESETS['sports']
    assert (sports.num_users, sports.num_items, sports.num_interactions, sports.num_brands,
            sports.num_categories) == (21_400, 36_224, 209_944, 2_081, 18)
    sports.validate()
