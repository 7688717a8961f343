"""Seeded fuzz of the Amazon readers over mutated real lines.

Seed lines come from the real dumps in ../shared/data (2018 Gift Cards reviews and metadata,
Magazine metadata, the 2014 Musical Instruments excerpt); the 2014 metadata and both 2023 files
have no real sample, so their seed lines are the real 2018 records rewritten in those formats.
Each line gets 1-3 mutations: byte flips, truncation, span deletion, insertion of quotes,
braces and other syntax, and field type swaps / removals. Every mutated line must either parse
into a record that keeps the record invariants or be skipped with a reason; whole files of them
must read leniently without error and, in strict mode, fail only with ``DataBuildError`` naming
the first bad line.
"""
from __future__ import annotations

import gzip
import json
import math
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from data_builders.errors import DataBuildError
from data_builders.readers import amazon_2014, amazon_2018, amazon_2023, read_meta, read_reviews
from data_builders.readers.fields import MAX_RANK, MAX_TIMESTAMP
from data_builders.readers.lines import LineError
from data_builders.readers.records import ItemMeta, ReadStats, Review

DATA = Path(__file__).resolve().parents[3] / 'shared' / 'data'
GIFT_REVIEWS = DATA / 'amazon-2018-gift-cards' / 'Gift_Cards_5.json.gz'
GIFT_META = DATA / 'amazon-2018-gift-cards' / 'meta_Gift_Cards.json.gz'
MAGAZINE_META = DATA / 'amazon-2018-magazine-meta' / 'meta_Magazine_Subscriptions.json.gz'
MUSIC_REVIEWS = DATA / 'amazon-2014-musical-instruments-excerpt' / 'Musical_Instruments_5.json'

MUTATIONS_PER_CASE = 3000
INSERTS = [b'"', b"'", b'{', b'}', b'[', b']', b':', b',', b'\\', b'\\u', b'\\ud800', b'\x00',
           b'\xff', b'\xc3', b'\xe2\x82', b'NaN', b'null', b'1e999', b'-', b'#', b'<', b'>',
           b'&amp;', b'$', b' in ', b'(', b')', b"__import__('os')", b'[' * 300, b'{"a":' * 50]
SWAPS: list[Any] = [None, 0, -1, 1.5, 1e308, float('nan'), float('inf'), True, '', '   ', [],
                    {}, [[]], {'a': []}, 'x' * 500, '$-5', '#0 in X', '$10 - $', [1, [2]],
                    [[[[['deep']]]]], 10 ** 30, -10 ** 30, {'k': None}, ['a', 3, None],
                    '<div class="a"', 'NaN', '1e999', '1,234 in X (', [{'hi_res': 5}]]


def _rows(path: Path, limit: int) -> list[dict]:
    opener = gzip.open if path.suffix == '.gz' else open
    with opener(path, 'rt', encoding='utf-8') as fh:
        return [json.loads(line) for _, line in zip(range(limit), fh)]


def _as_2014_meta(m: dict) -> dict:
    price = m['price'].lstrip('$').replace(',', '')
    return {'asin': m['asin'], 'title': m['title'], 'price': float(price) if price[:1].isdigit()
            else None, 'imUrl': (m.get('image') or [''])[0], 'brand': m['brand'],
            'categories': [m['category']], 'salesRank': {'Gift Cards': 1234},
            'related': {'also_bought': m['also_buy'][:3]}, 'description': ' '.join(
                m['description'])[:300]}


def _as_2023_review(r: dict) -> dict:
    return {'rating': r['overall'], 'title': r['summary'], 'text': r.get('reviewText', ''),
            'images': [], 'asin': r['asin'], 'parent_asin': r['asin'],
            'user_id': r['reviewerID'], 'timestamp': r['unixReviewTime'] * 1000,
            'helpful_vote': 0, 'verified_purchase': r['verified']}


def _as_2023_meta(m: dict) -> dict:
    return {'main_category': m['main_cat'], 'title': m['title'], 'average_rating': 4.5,
            'rating_number': 12, 'features': m['feature'][:2], 'description': m['description'],
            'price': m['price'] or None, 'images': [{'thumb': u, 'large': u, 'variant': 'MAIN',
                                                     'hi_res': None} for u in m['image']],
            'store': m['brand'], 'categories': m['category'],
            'details': {**m['details'], 'Best Sellers Rank': {'Gift Cards': 17}},
            'parent_asin': m['asin']}


def _seeds() -> dict[tuple[str, str], tuple[list[dict], bool]]:
    """(fmt, kind) -> (seed records, written as Python literals)."""
    gift_reviews = _rows(GIFT_REVIEWS, 300)
    gift_meta = _rows(GIFT_META, 120)
    magazine = _rows(MAGAZINE_META, 40)
    return {
        ('2014', 'review'): (_rows(MUSIC_REVIEWS, 50), False),
        ('2014', 'meta'): ([_as_2014_meta(m) for m in gift_meta], True),
        ('2018', 'review'): (gift_reviews, False),
        ('2018', 'meta'): (gift_meta + magazine, False),
        ('2023', 'review'): ([_as_2023_review(r) for r in gift_reviews], False),
        ('2023', 'meta'): ([_as_2023_meta(m) for m in gift_meta], False),
    }


def _dump(record: dict, literal: bool) -> bytes:
    return (repr(record) if literal else json.dumps(record)).encode('utf-8')


def _swap(record: dict, rng: random.Random, literal: bool) -> bytes:
    target = record
    nested = [v for v in record.values() if isinstance(v, dict)]
    if nested and rng.random() < 0.3:
        target = rng.choice(nested)
    if target:
        key = rng.choice(list(target))
        if rng.random() < 0.2:
            del target[key]
        else:
            target[key] = rng.choice(SWAPS)
    return _dump(record, literal)


def _mutate(raw: bytes, record: dict, rng: random.Random, literal: bool) -> bytes:
    for _ in range(rng.randint(1, 3)):
        kind = rng.randrange(5)
        if kind == 4:
            raw = _swap(json.loads(json.dumps(record)), rng, literal)
        elif not raw:
            break
        elif kind == 0:
            pos = rng.randrange(len(raw))
            raw = raw[:pos] + bytes([rng.randrange(256)]) + raw[pos + 1:]
        elif kind == 1:
            raw = raw[:rng.randrange(len(raw))]
        elif kind == 2:
            pos = rng.randrange(len(raw))
            raw = raw[:pos] + raw[pos + rng.randint(1, 20):]
        else:
            pos = rng.randrange(len(raw) + 1)
            raw = raw[:pos] + rng.choice(INSERTS) + raw[pos:]
    return raw.replace(b'\n', b' ')            # one mutated record stays one line


def _mutated_lines(fmt: str, kind: str, seed: int) -> list[bytes]:
    records, literal = _seeds()[(fmt, kind)]
    rng = random.Random(seed)
    lines = []
    for i in range(MUTATIONS_PER_CASE):
        record = records[i % len(records)]
        lines.append(_mutate(_dump(record, literal), record, rng, literal))
    return lines


def _check_review(r: Review) -> None:
    assert isinstance(r, Review)
    assert isinstance(r.user_id, str) and r.user_id == r.user_id.strip() != ''
    assert isinstance(r.item_id, str) and r.item_id == r.item_id.strip() != ''
    assert r.rating is None or (isinstance(r.rating, float) and 1.0 <= r.rating <= 5.0)
    assert r.timestamp is None or (type(r.timestamp) is int and 0 <= r.timestamp <= MAX_TIMESTAMP)
    assert isinstance(r.text, str)


def _check_meta(m: ItemMeta) -> None:
    assert isinstance(m, ItemMeta)
    assert isinstance(m.item_id, str) and m.item_id == m.item_id.strip() != ''
    assert isinstance(m.title, str) and isinstance(m.description, str)
    assert m.price is None or (isinstance(m.price, float) and math.isfinite(m.price)
                               and m.price > 0)
    assert m.brand is None or (isinstance(m.brand, str) and m.brand)
    assert m.sales_rank is None or (type(m.sales_rank) is int and 1 <= m.sales_rank <= MAX_RANK)
    assert all(isinstance(p, list) and p and all(isinstance(c, str) and c for c in p)
               for p in m.categories)
    assert all(isinstance(u, str) and u for u in m.image_urls)
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in m.extra.items())


MODULES = {'2014': amazon_2014, '2018': amazon_2018, '2023': amazon_2023}
CASES = [(fmt, kind) for fmt in MODULES for kind in ('review', 'meta')]


def _expected(lines: list[bytes], parse: Callable, check: Callable) -> list[str | None]:
    """Per line: None when it parses into a valid record, else the skip reason."""
    outcome: list[str | None] = []
    for index, raw in enumerate(lines):
        raw = raw.strip()
        if not raw:
            outcome.append('blank')
            continue
        try:
            text = raw.decode('utf-8')
            record = parse(text.lstrip('\ufeff') if index == 0 else text, [])
        except UnicodeDecodeError:
            outcome.append('non_utf8')
            continue
        except LineError as err:
            assert err.reason and ' ' not in err.reason
            outcome.append(err.reason)
            continue
        check(record)
        outcome.append(None)
    return outcome


@pytest.mark.parametrize('fmt,kind', CASES)
def test_fuzz_reader(tmp_path: Path, fmt: str, kind: str) -> None:
    lines = _mutated_lines(fmt, kind, seed=10 * int(fmt) + (kind == 'meta'))
    parse = getattr(MODULES[fmt], f'parse_{kind}')
    check = _check_review if kind == 'review' else _check_meta
    outcome = _expected(lines, parse, check)
    kept = outcome.count(None)
    data_lines = len(outcome) - outcome.count('blank')
    assert 0 < kept < data_lines, 'the mutations should keep some lines and break others'

    read = read_reviews if kind == 'review' else read_meta
    suffix = '.json.gz' if fmt == '2018' else '.jsonl'
    path = tmp_path / f'fuzz_{fmt}_{kind}{suffix}'
    payload = b'\n'.join(lines) + b'\n'
    path.write_bytes(gzip.compress(payload) if suffix.endswith('.gz') else payload)

    stats = ReadStats(str(path))
    records = list(read(path, fmt, stats))
    assert len(records) == stats.kept == kept
    assert stats.lines == data_lines
    skipped = {k: v for k, v in stats.skipped.items() if not k.startswith('invalid_')}
    assert sum(skipped.values()) == data_lines - kept
    for reason, count in skipped.items():
        assert outcome.count(reason) == count

    first_bad = next(i for i, o in enumerate(outcome) if o not in (None, 'blank')) + 1
    strict_records = []
    with pytest.raises(DataBuildError) as info:
        for record in read(path, fmt, strict=True):
            strict_records.append(record)
    assert str(info.value).startswith(f'{path}:{first_bad}: {outcome[first_bad - 1]}')
    assert len(strict_records) == outcome[:first_bad].count(None)
