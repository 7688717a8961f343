"""Tests of the Amazon dump readers on the real files in ../shared/data and synthetic lines."""
from __future__ import annotations

import gzip
import json
import logging
from pathlib import Path

import pytest

from data_builders.errors import DataBuildError
from data_builders.readers import FORMATS, read_meta, read_reviews
from data_builders.readers.files import open_lines, open_raw_lines
from data_builders.readers.records import ItemMeta, ReadStats, Review

DATA = Path(__file__).resolve().parents[3] / 'shared' / 'data'
GIFT_REVIEWS = DATA / 'amazon-2018-gift-cards' / 'Gift_Cards_5.json.gz'
GIFT_META = DATA / 'amazon-2018-gift-cards' / 'meta_Gift_Cards.json.gz'
MAGAZINE_META = DATA / 'amazon-2018-magazine-meta' / 'meta_Magazine_Subscriptions.json.gz'
MUSIC_REVIEWS = DATA / 'amazon-2014-musical-instruments-excerpt' / 'Musical_Instruments_5.json'


def write_lines(path: Path, lines: list[str], gz: bool = False) -> Path:
    data = ('\n'.join(lines) + '\n').encode('utf-8')
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


def dropped(stats: ReadStats) -> int:
    """Lines skipped (not fields dropped from kept lines)."""
    return sum(v for k, v in stats.skipped.items() if not k.startswith('invalid_'))


# --------------------------------------------------------------------------- real files


@pytest.fixture(scope='module')
def gift() -> tuple[list[Review], dict[str, ItemMeta], ReadStats, ReadStats]:
    review_stats, meta_stats = ReadStats(str(GIFT_REVIEWS)), ReadStats(str(GIFT_META))
    reviews = list(read_reviews(GIFT_REVIEWS, '2018', review_stats, strict=True))
    meta = list(read_meta(GIFT_META, '2018', meta_stats, strict=True))
    return reviews, {m.item_id: m for m in meta}, review_stats, meta_stats


def test_shared_data_present() -> None:
    for path in (GIFT_REVIEWS, GIFT_META, MAGAZINE_META, MUSIC_REVIEWS):
        assert path.is_file(), f'{path} missing: the tests need ../shared/data'


def test_gift_cards_reviews_counts(gift) -> None:
    reviews, _, stats, _ = gift
    assert len(reviews) == stats.lines == stats.kept == 2972
    assert len({r.user_id for r in reviews}) == 458
    assert len({r.item_id for r in reviews}) == 148
    assert all(r.rating in {1.0, 2.0, 3.0, 4.0, 5.0} for r in reviews)
    assert all(r.timestamp is not None and r.timestamp > 9e8 for r in reviews)
    first = reviews[0]
    assert (first.user_id, first.item_id, first.timestamp) == ('A31UBHTUUIFJUT', 'B004LLIKVU',
                                                               1529193600)
    assert first.text == 'Another great gift. Five Stars'


def test_gift_cards_meta_counts(gift) -> None:
    reviews, meta, _, stats = gift
    assert stats.lines == stats.kept == len(meta) == 1547
    assert dropped(stats) == 0
    reviewed = [meta[i] for i in {r.item_id for r in reviews}]
    assert len(reviewed) == 148
    assert sum(m.price is not None for m in reviewed) == 107
    assert sum(m.brand is not None for m in reviewed) == 119
    assert sum(m.sales_rank is not None for m in reviewed) == 130
    # HTML/CSS leftovers in `price` are dropped from their line and counted, the line is kept
    assert stats.skipped['invalid_price'] == 4
    assert meta['B00FTITVAS'].price is None


def test_gift_cards_meta_values(gift) -> None:
    _, meta, _, _ = gift
    pack = meta['B001H53QE4']
    assert pack.price == 1250.0                                   # '$1,250.00'
    assert pack.sales_rank == 1786                                # '1,786 in Gift Cards ('
    assert pack.brand == 'Amazon'
    assert pack.categories == [['Gift Cards', 'Gift Cards']]
    assert pack.image_urls[0].endswith('31T%2BQmXRSBL._SX38_SY50_CR,0,0,38,50_.jpg')
    assert '<' not in pack.description and 'Box of 50 physical' in pack.description
    assert pack.extra['ASIN'] == 'B001H53QEE' and pack.extra['main_cat'] == 'Gift Cards'
    assert meta['B002VFYGC0'].title == "Maggiano's Gift Card"       # ' Maggiano&#39;s ...'
    # list rank: the smallest '#N in' wins, 'See Top 100' is not a rank
    assert meta['B001KMWN2K'].sales_rank == 1019
    assert meta['B004Q7CK9M'].price == 40.0


def test_magazine_meta_images_and_titles() -> None:
    stats = ReadStats(str(MAGAZINE_META))
    meta = list(read_meta(MAGAZINE_META, '2018', stats, strict=True))
    assert len(meta) == stats.kept == 3385
    assert len({m.item_id for m in meta}) == 2320          # duplicates are kept for cleaning
    with_images = [m for m in meta if m.image_urls]
    assert len(with_images) == 1477
    # imageURLHighRes is preferred over the thumbnails in imageURL
    assert all('._SX38_' not in u for m in with_images for u in m.image_urls)
    first = meta[0]
    assert first.item_id == 'B00005N7NQ'
    assert first.image_urls[0] == ('https://images-na.ssl-images-amazon.com/images/I/'
                                   '51Iph04Jy3L.jpg')
    assert first.title == '' and first.brand == 'Reason Magazine'
    assert meta[1].categories == [['Magazine Subscriptions', 'Arts, Music & Photography',
                                   'Music']]
    # titles that are only '<span class="..."' markup are dropped and counted
    assert stats.skipped['invalid_title'] == sum(not m.title for m in meta) == 3153


def test_musical_instruments_2014_reviews() -> None:
    stats = ReadStats(str(MUSIC_REVIEWS))
    reviews = list(read_reviews(MUSIC_REVIEWS, '2014', stats, strict=True))
    assert len(reviews) == stats.kept == 50
    assert len({r.item_id for r in reviews}) == 7
    first = reviews[0]
    assert (first.user_id, first.item_id, first.rating, first.timestamp) == (
        'A2IBPI20UZIR0U', '1384719342', 5.0, 1393545600)
    assert first.text.startswith('Not much to write about here') and first.text.endswith(' good')


# --------------------------------------------------------------------------- 2014 synthetic

META_2014_FULL = repr({
    'asin': ' 0000031852 ', 'title': 'Girls Ballet Tutu Zebra &amp; Pink', 'price': 3.17,
    'imUrl': 'http://ecx.images-amazon.com/images/I/51fAmVkTbyL._SY300_.jpg',
    'related': {'also_bought': ['B00JHONN1S']}, 'brand': 'Coxlures',
    'categories': [['Sports & Outdoors', 'Other Sports', 'Dance'], ['Clothing', '']],
    'salesRank': {'Toys & Games': 211836, 'Sports & Outdoors': 8547},
    'description': "It's a tutu."})


def test_2014_meta_literal_lines(tmp_path: Path) -> None:
    path = write_lines(tmp_path / 'meta.json', [
        META_2014_FULL,
        "{'asin': 'B1'}",
        json.dumps({'asin': 'B2', 'price': 9.5, 'title': 'Converted'}),   # JSON mirror
        "{'asin': 'B3', 'price': float('nan')}",   # a call: not a literal
        "{'asin': 'B4', 'price': -2.0, 'salesRank': {'Toys': 0}}",
        "['asin', 'B5']",
        "{'title': 'no asin'}",
    ])
    stats = ReadStats(str(path))
    meta = {m.item_id: m for m in read_meta(path, '2014', stats)}
    assert list(meta) == ['0000031852', 'B1', 'B2', 'B4']
    full = meta['0000031852']
    assert full.title == 'Girls Ballet Tutu Zebra & Pink' and full.price == 3.17
    assert full.brand == 'Coxlures' and full.sales_rank == 8547
    assert full.categories == [['Sports & Outdoors', 'Other Sports', 'Dance'], ['Clothing']]
    assert full.image_urls == ['http://ecx.images-amazon.com/images/I/51fAmVkTbyL._SY300_.jpg']
    assert full.description == "It's a tutu." and full.extra == {}
    assert meta['B1'] == ItemMeta(item_id='B1')
    assert meta['B2'].price == 9.5 and meta['B2'].title == 'Converted'
    assert meta['B4'].price is None and meta['B4'].sales_rank is None
    assert stats.skipped == {'bad_literal': 1, 'not_object': 1, 'missing_item_id': 1,
                             'invalid_price': 1, 'invalid_rank': 1}
    assert stats.lines == 7 and stats.kept == 4


def test_2014_meta_never_runs_code(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    path = write_lines(tmp_path / 'meta.json', [
        "__import__('os').system('touch PWNED')",
        "{'asin': __import__('os').system('touch PWNED')}",
        "{'asin': 'B1', 'title': (lambda: open('PWNED', 'w'))()}",
        "{'asin': 'B2'}",
    ])
    stats = ReadStats(str(path))
    assert [m.item_id for m in read_meta(path, '2014', stats)] == ['B2']
    assert stats.skipped == {'bad_literal': 3}
    assert not (tmp_path / 'PWNED').exists()


def test_2014_meta_rejects_huge_line(tmp_path: Path) -> None:
    path = write_lines(tmp_path / 'meta.json', ["{'asin': 'B1', 'description': '"
                                                + 'x' * 1_100_000 + "'}", "{'asin': 'B2'}"])
    stats = ReadStats(str(path))
    assert [m.item_id for m in read_meta(path, '2014', stats)] == ['B2']
    assert stats.skipped == {'line_too_long': 1}


def test_2014_reviews_optional_fields(tmp_path: Path) -> None:
    path = write_lines(tmp_path / 'reviews.json', [
        json.dumps({'reviewerID': 'U1', 'asin': 'I1'}),
        json.dumps({'reviewerID': 'U2', 'asin': 'I1', 'reviewTime': '02 28, 2014',
                    'overall': 9, 'summary': ' ok '}),
        json.dumps({'reviewerID': 7, 'asin': 'I2', 'overall': '4', 'reviewText': 3}),
        json.dumps({'reviewerID': 'U3', 'asin': 'I1'}),
        json.dumps({'reviewerID': 'U3', 'asin': 'I1'}),               # duplicates are kept
    ])
    stats = ReadStats(str(path))
    reviews = list(read_reviews(path, '2014', stats))
    assert reviews[0] == Review('U1', 'I1')
    assert reviews[1] == Review('U2', 'I1', None, 1393545600, 'ok')
    assert reviews[2] == Review('7', 'I2', 4.0, None, '')
    assert len(reviews) == 5
    assert stats.skipped == {'invalid_rating': 1, 'invalid_text': 1}


# --------------------------------------------------------------------------- 2018 synthetic


def test_2018_meta_fields(tmp_path: Path) -> None:
    full = {'asin': 'A1', 'title': 'Tom &amp; Jerry <b>Mug</b>', 'brand': 'Ben &amp; Jerry',
            'price': '$10.99 - $15.99', 'category': ['Home &amp; Kitchen', 'Mugs'],
            'rank': ['>#12,345 in Home (See Top 100 in Home)', '>#7 in Home > Mugs'],
            'description': ['<p>Holds <i>tea</i>.</p>', '', 'Dishwasher &amp; microwave.'],
            'imageURL': ['http://x/small.jpg'], 'imageURLHighRes': ['http://x/big.jpg'],
            'image': ['http://x/other.jpg'], 'details': {'\n  Item Weight: \n': '1 pound',
                                                       'nested': {'a': 1}},
            'main_cat': 'Home', 'date': '', 'also_buy': ['A2']}
    path = write_lines(tmp_path / 'meta.jsonl', [
        json.dumps(full),
        json.dumps({'asin': 'A2', 'price': '<div class="a"', 'rank': 'Top 100 in Home',
                    'title': '<span class="a-size-medium a-color-secondary"',
                    'image': ['http://x/only.jpg']}),
        json.dumps({'asin': 'A3', 'price': '$25.00', 'rank': '1,362 in Gift Cards ('}),
        json.dumps({'asin': 'A4'}),
    ])
    stats = ReadStats(str(path))
    meta = list(read_meta(path, '2018', stats, strict=True))
    a1, a2, a3, a4 = meta
    assert a1.title == 'Tom & Jerry Mug' and a1.brand == 'Ben & Jerry'
    assert a1.price == pytest.approx(13.49)                   # the mean of the range
    assert a1.sales_rank == 7
    assert a1.categories == [['Home & Kitchen', 'Mugs']]
    assert a1.description == 'Holds tea. Dishwasher & microwave.'
    assert a1.image_urls == ['http://x/big.jpg']
    assert a1.extra == {'main_cat': 'Home', 'Item Weight': '1 pound'}
    assert (a2.price, a2.sales_rank, a2.title) == (None, None, '')
    assert a2.image_urls == ['http://x/only.jpg']
    assert (a3.price, a3.sales_rank) == (25.0, 1362)
    assert a4 == ItemMeta(item_id='A4')
    assert stats.skipped == {'invalid_price': 1, 'invalid_rank': 1, 'invalid_title': 1}


def test_2018_reviews_skip_reasons(tmp_path: Path) -> None:
    path = tmp_path / 'reviews.json'
    path.write_bytes(b'\n'.join([
        b'{"reviewerID": "U1", "asin": "I1", "overall": 5.0, "unixReviewTime": 1529193600}',
        b'{"reviewerID": "U1", "asin": "I1", "overall": 5.0',                 # bad_json
        b'["U1", "I1"]',                                                      # not_object
        b'{"reviewerID": "  ", "asin": "I1"}',                                # missing_user_id
        b'{"reviewerID": "U2"}',                                              # missing_item_id
        b'{"reviewerID": ["U2"], "asin": "I1"}',                              # bad_type
        b'{"reviewerID": "U\xff", "asin": "I1"}',                             # non_utf8
        b'',
        b'{"reviewerID": "U3", "asin": "I3", "overall": NaN, "unixReviewTime": -5}',
    ]) + b'\n')
    stats = ReadStats(str(path))
    reviews = list(read_reviews(path, '2018', stats))
    assert [(r.user_id, r.item_id) for r in reviews] == [('U1', 'I1'), ('U3', 'I3')]
    assert reviews[1].rating is None and reviews[1].timestamp is None
    assert stats.skipped == {'bad_json': 1, 'not_object': 1, 'missing_user_id': 1,
                             'missing_item_id': 1, 'bad_type': 1, 'non_utf8': 1,
                             'invalid_rating': 1, 'invalid_timestamp': 1}
    assert stats.lines == 8 == stats.kept + dropped(stats)


# --------------------------------------------------------------------------- 2023 synthetic


def test_2023_reviews(tmp_path: Path) -> None:
    path = write_lines(tmp_path / 'Reviews.jsonl', [
        json.dumps({'rating': 4.0, 'title': 'Nice', 'text': 'Works well.<br />Yes',
                    'images': [], 'asin': 'B01', 'parent_asin': 'P01', 'user_id': 'AE1',
                    'timestamp': 1588687728923, 'helpful_vote': 2, 'verified_purchase': True}),
        json.dumps({'user_id': 'AE2', 'asin': 'B02'}),
        json.dumps({'user_id': 'AE3', 'parent_asin': None, 'asin': 'B03', 'timestamp': 'soon'}),
        json.dumps({'user_id': 'AE4', 'parent_asin': ' ', 'asin': 'B04'}),
        json.dumps({'user_id': 'AE5', 'parent_asin': ''}),
        json.dumps({'user_id': [], 'parent_asin': 'P06'}),
    ], gz=True)
    stats = ReadStats(str(path))
    reviews = list(read_reviews(path, '2023', stats))
    assert reviews[0] == Review('AE1', 'P01', 4.0, 1588687728, 'Works well.<br />Yes Nice')
    assert reviews[1] == Review('AE2', 'B02')
    assert reviews[2].item_id == 'B03' and reviews[2].timestamp is None
    assert reviews[3].item_id == 'B04'                  # a blank parent_asin falls back too
    assert len(reviews) == 4
    assert stats.skipped == {'missing_item_id': 1, 'missing_user_id': 1,
                             'invalid_timestamp': 1}


def test_2023_meta(tmp_path: Path) -> None:
    full = {'main_category': 'All Beauty', 'title': 'Howard LC0008 Leather Conditioner',
            'average_rating': 4.8, 'rating_number': 10, 'features': ['f'],
            'description': ['Conditions &amp; protects.', '<b>8 oz</b>'], 'price': None,
            'images': [{'thumb': 'http://i/t1.jpg', 'large': 'http://i/l1.jpg',
                        'variant': 'MAIN', 'hi_res': None},
                       {'thumb': 'http://i/t2.jpg', 'large': 'http://i/l2.jpg',
                        'variant': 'PT01', 'hi_res': 'http://i/h2.jpg'}],
            'videos': [], 'store': 'Howard Products', 'categories': ['Beauty', 'Skin Care'],
            'details': {'Package Dimensions': '7.1 x 5.5 x 3 inches', 'UPC': 617390882781,
                        'Best Sellers Rank': {'Beauty & Personal Care': 1024,
                                              'Leather Conditioners': 31}},
            'parent_asin': 'B01CUPMQZE', 'bought_together': None}
    path = write_lines(tmp_path / 'meta.jsonl', [
        json.dumps(full),
        json.dumps({'parent_asin': 'P2', 'price': '$5.99', 'store': None,
                    'details': {'Brand': 'Acme', 'Best Sellers Rank':
                                '#2,345 in Beauty (See Top 100 in Beauty) #12 in Lips'}}),
        json.dumps({'parent_asin': 'P3', 'price': 12, 'images': [{'thumb': 'http://i/t.jpg'}]}),
        json.dumps({'parent_asin': 'P4', 'price': 'free', 'categories': 'Beauty'}),
        json.dumps({'parent_asin': 'P5'}),
    ])
    stats = ReadStats(str(path))
    meta = list(read_meta(path, '2023', stats, strict=True))
    p1 = meta[0]
    assert p1.item_id == 'B01CUPMQZE' and p1.brand == 'Howard Products'
    assert p1.price is None and p1.sales_rank == 31
    assert p1.image_urls == ['http://i/l1.jpg', 'http://i/h2.jpg']
    assert p1.categories == [['Beauty', 'Skin Care']]
    assert p1.description == 'Conditions & protects. 8 oz'
    assert p1.extra == {'main_category': 'All Beauty', 'average_rating': '4.8',
                        'rating_number': '10', 'Package Dimensions': '7.1 x 5.5 x 3 inches',
                        'UPC': '617390882781'}
    assert (meta[1].price, meta[1].brand, meta[1].sales_rank) == (5.99, 'Acme', 12)
    assert meta[2].price == 12.0 and meta[2].image_urls == ['http://i/t.jpg']
    assert meta[3].price is None and meta[3].categories == []
    assert meta[4] == ItemMeta(item_id='P5')
    assert stats.skipped == {'invalid_price': 1, 'invalid_categories': 1}


# --------------------------------------------------------------------------- files


@pytest.mark.parametrize('name,gz', [('r.json', False), ('r.jsonl', False), ('r.json.gz', True),
                                     ('r.jsonl.gz', True), ('gzip_without_suffix.json', True)])
def test_file_variants(tmp_path: Path, name: str, gz: bool) -> None:
    line = json.dumps({'reviewerID': 'U1', 'asin': 'I1', 'overall': 3.0})
    path = write_lines(tmp_path / name, [line, '', '   ', line + '\r'], gz=gz)
    stats = ReadStats(str(path))
    assert [r.item_id for r in read_reviews(path, '2018', stats)] == ['I1', 'I1']
    assert (stats.lines, stats.kept, dict(stats.skipped)) == (2, 2, {})
    assert [n for n, _ in open_raw_lines(path)] == [1, 4]


def test_bom_and_open_lines(tmp_path: Path) -> None:
    path = tmp_path / 'bom.json'
    path.write_bytes(b'\xef\xbb\xbf{"reviewerID": "U1", "asin": "I1"}\n')
    assert [r.user_id for r in read_reviews(path, '2018', strict=True)] == ['U1']
    assert [n for n, _ in open_lines(path)] == [1]
    bad = tmp_path / 'latin1.json'
    bad.write_bytes(b'{"a": 1}\n{"b": "\xe9"}\n')
    with pytest.raises(DataBuildError, match=r'latin1\.json:2: line is not valid UTF-8'):
        list(open_lines(bad))


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DataBuildError, match='no such file'):
        read_reviews(tmp_path / 'nope.json.gz', '2018')           # at call time


def test_directory_and_bad_format(tmp_path: Path) -> None:
    with pytest.raises(DataBuildError, match='is a directory'):
        read_meta(tmp_path, '2018')
    path = write_lines(tmp_path / 'r.json', ['{}'])
    with pytest.raises(DataBuildError,
                       match=r"fmt must be one of 2014, 2018, 2023, sequence \(got '2019'"):
        read_reviews(path, '2019')
    assert FORMATS == ('2014', '2018', '2023', 'sequence')
    assert list(read_reviews(path, 2018)) == []                   # an int fmt is fine


def test_empty_files(tmp_path: Path) -> None:
    empty = tmp_path / 'empty.json'
    empty.write_bytes(b'')
    with pytest.raises(DataBuildError, match=r'empty\.json: file is empty'):
        read_reviews(empty, '2018')
    blank = write_lines(tmp_path / 'blank.json.gz', ['', '  '], gz=True)
    with pytest.raises(DataBuildError, match=r'blank\.json\.gz: holds no data lines'):
        list(read_meta(blank, '2023'))


def test_not_gzip(tmp_path: Path) -> None:
    path = write_lines(tmp_path / 'plain.json.gz', ['{"asin": "A"}'])
    with pytest.raises(DataBuildError, match=r'plain\.json\.gz: .*content is not gzip'):
        read_meta(path, '2018')
    zipped = tmp_path / 'z.json'
    zipped.write_bytes(b'PK\x03\x04rest')
    with pytest.raises(DataBuildError, match='zip archive'):
        read_meta(zipped, '2018')


def test_truncated_gzip(tmp_path: Path) -> None:
    data = GIFT_REVIEWS.read_bytes()
    path = tmp_path / 'cut.json.gz'
    path.write_bytes(data[: len(data) // 2])
    stats = ReadStats(str(path))
    seen = []
    with pytest.raises(DataBuildError, match=r'cut\.json\.gz: gzip stream is truncated or '
                                             r'corrupt after line \d+'):
        for review in read_reviews(path, '2018', stats):
            seen.append(review)
    assert 0 < len(seen) == stats.kept < 2972                  # failed mid-stream


def test_strict_names_file_and_line(tmp_path: Path) -> None:
    good = json.dumps({'reviewerID': 'U1', 'asin': 'I1'})
    path = write_lines(tmp_path / 'r.json', [good, '', good, '{"reviewerID": "U2"}', good])
    reviews = read_reviews(path, '2018', strict=True)
    assert next(reviews).user_id == 'U1' and next(reviews).user_id == 'U1'
    with pytest.raises(DataBuildError, match=rf'{path}:4: missing_item_id'):
        next(reviews)
    literal = write_lines(tmp_path / 'm.json', ["{'asin': 'A'}", "{'asin': open('x')}"])
    with pytest.raises(DataBuildError, match=rf'{literal}:2: bad_literal'):
        list(read_meta(literal, '2014', strict=True))


def test_logs_summary(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = write_lines(tmp_path / 'r.json', ['{"reviewerID": "U1", "asin": "I1"}', 'oops'])
    with caplog.at_level(logging.INFO, logger='data_builders.readers'):
        assert len(list(read_reviews(path, '2014'))) == 1
    assert 'skipped 1 malformed lines' in caplog.text and 'bad_json' in caplog.text
