"""Precomputed features: MMRec .npy matrices placed by id, and the 2014 binary image
features."""
import numpy as np
import pytest
import torch

from data_builders.build import BuildConfig
from data_builders.errors import DataBuildError
from data_builders.features.precomputed import (IMAGE_FEATURE_DIM, RECORD_BYTES, filled_rows,
                                                load_keyed_features, load_mmrec_features,
                                                read_2014_image_features, read_id_mapping)
from tests.conftest import SHARED_DATA


def write_2014(path, records: dict[str, np.ndarray]) -> bytes:
    payload = b''.join(asin.encode('ascii') + vec.astype('<f4').tobytes()
                       for asin, vec in records.items())
    path.write_bytes(payload)
    return payload


@pytest.fixture
def records() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    asins = ['B000000001', '0123456789', 'B00XYZ0003', 'B000000004', 'B000000005']
    return {a: rng.standard_normal(IMAGE_FEATURE_DIM).astype(np.float32) for a in asins}


def test_mmrec_features_round_trip_and_checks(tmp_path):
    x = np.arange(12, dtype=np.float64).reshape(4, 3)
    np.save(tmp_path / 'text_feat.npy', x)
    features = load_mmrec_features(tmp_path / 'text_feat.npy', 4)
    assert features.dtype == torch.float32 and features.shape == (4, 3)
    assert torch.equal(features, torch.tensor(x, dtype=torch.float32))
    with pytest.raises(DataBuildError, match=r'expected 5 rows, one per item \(got 4\)'):
        load_mmrec_features(tmp_path / 'text_feat.npy', 5)
    np.save(tmp_path / 'flat.npy', np.zeros(4))
    with pytest.raises(DataBuildError, match=r'2-D.*\(got shape \(4,\)\)'):
        load_mmrec_features(tmp_path / 'flat.npy', 4)
    np.save(tmp_path / 'objects.npy', np.array([[{'a': 1}]], dtype=object), allow_pickle=True)
    with pytest.raises(DataBuildError, match='objects.npy: not a readable'):
        load_mmrec_features(tmp_path / 'objects.npy', 1)  # never unpickled
    x[2, 1] = np.nan
    np.save(tmp_path / 'nan.npy', x)
    with pytest.raises(DataBuildError, match=r'1 rows hold NaN.*\[2\]'):
        load_mmrec_features(tmp_path / 'nan.npy', 4)
    with pytest.raises(DataBuildError, match='missing.npy'):
        load_mmrec_features(tmp_path / 'missing.npy', 4)


@pytest.mark.parametrize('records_per_read', [1, 2, 256])
def test_2014_reader_streams_all_or_wanted_records(tmp_path, records, records_per_read):
    path = tmp_path / 'image_features_Test.b'
    write_2014(path, records)
    found = read_2014_image_features(path, records_per_read=records_per_read)
    assert list(found) == list(records)
    for asin, vec in records.items():
        assert found[asin].dtype == np.float32 and np.array_equal(found[asin], vec)
    some = read_2014_image_features(path, wanted={'0123456789', 'B000000005', 'NOTTHERE00'},
                                    records_per_read=records_per_read)
    assert sorted(some) == ['0123456789', 'B000000005']
    assert np.array_equal(some['B000000005'], records['B000000005'])


def test_2014_reader_reports_truncated_record_offset(tmp_path, records):
    path = tmp_path / 'image_features_Test.b'
    payload = write_2014(path, records)
    path.write_bytes(payload[:-100])
    expected = rf'truncated record at byte offset {4 * RECORD_BYTES}\b'
    with pytest.raises(DataBuildError, match=expected):
        read_2014_image_features(path, records_per_read=2)
    path.write_bytes(payload + b'B0000')
    with pytest.raises(DataBuildError, match=rf'byte offset {5 * RECORD_BYTES}.*got 5\)'):
        read_2014_image_features(path)
    path.write_bytes(b'')
    assert read_2014_image_features(path) == {}


def test_2014_reader_rejects_non_ascii_asin(tmp_path, records):
    path = tmp_path / 'bad.b'
    payload = bytearray(write_2014(path, records))
    payload[RECORD_BYTES] = 0xFF
    path.write_bytes(bytes(payload))
    with pytest.raises(DataBuildError, match=rf'ASIN at byte offset {RECORD_BYTES} is not ASCII'):
        read_2014_image_features(path)
    with pytest.raises(DataBuildError, match='cannot be opened'):
        read_2014_image_features(tmp_path / 'nope.b')


def write_mapping(path, ids, rows=None, sep='\t'):
    rows = range(len(ids)) if rows is None else rows
    path.write_text(f'asin{sep}itemID\n' + ''.join(f'{i}{sep}{r}\n' for i, r in zip(ids, rows)))
    return path


ITEMS = ['A01', 'A02', 'B07', 'C11', 'Z99']


@pytest.mark.parametrize('sep', ['\t', ','])
def test_shuffled_mapping_lands_every_vector_on_its_item(tmp_path, sep):
    rng = np.random.default_rng(1)
    vectors = {item: rng.standard_normal(6).astype(np.float32) for item in ITEMS}
    np.save(tmp_path / 'plain.npy', np.stack([vectors[i] for i in ITEMS]))
    write_mapping(tmp_path / 'plain.csv', ITEMS, sep=sep)
    order = rng.permutation(len(ITEMS))        # MMRec's own order: not ours
    shuffled = [ITEMS[k] for k in order]
    np.save(tmp_path / 'shuffled.npy', np.stack([vectors[i] for i in shuffled]))
    write_mapping(tmp_path / 'shuffled.csv', shuffled, sep=sep)
    plain = load_keyed_features(tmp_path / 'plain.npy', read_id_mapping(tmp_path / 'plain.csv'),
                                ITEMS, 'plain.csv')
    moved = load_keyed_features(tmp_path / 'shuffled.npy',
                                read_id_mapping(tmp_path / 'shuffled.csv'), ITEMS, 'shuffled.csv')
    assert torch.equal(plain, moved)
    for i, item in enumerate(ITEMS):
        assert torch.equal(moved[i], torch.from_numpy(vectors[item]))
    # The rows of a mapping may be listed in any order: its itemID column places them.
    lines = (tmp_path / 'shuffled.csv').read_text().splitlines()
    (tmp_path / 'reversed.csv').write_text('\n'.join([lines[0], *lines[:0:-1]]) + '\n')
    assert read_id_mapping(tmp_path / 'reversed.csv') == read_id_mapping(tmp_path / 'shuffled.csv')


def test_mapping_errors_name_file_line_and_id(tmp_path):
    np.save(tmp_path / 'x.npy', np.ones((3, 2), dtype=np.float32))
    cases = [
        (['A01', 'A02', 'A01'], None, r'dup.csv:4: id .A01. repeats line 2'),
        (['A01', 'A02', 'B07'], [0, 1, 1], r'dup.csv:4: row 1 of id .B07. is already the row '
                                           r'of .A02.'),
        (['A01', 'A02', 'B07'], [0, 1, 'x'], r"dup.csv:4: row of id 'B07' must be a "
                                             r"non-negative integer \(got 'x'\)"),
    ]
    for ids, rows, message in cases:
        with pytest.raises(DataBuildError, match=message):
            read_id_mapping(write_mapping(tmp_path / 'dup.csv', ids, rows))
    (tmp_path / 'bad.csv').write_text('sku\trow\nA\t0\n')
    with pytest.raises(DataBuildError, match=r'bad.csv: the header needs an id column'):
        read_id_mapping(tmp_path / 'bad.csv')
    mapping = read_id_mapping(write_mapping(tmp_path / 'm.csv', ['A01', 'A02']))
    with pytest.raises(DataBuildError, match=r'x.npy has 3 rows but m.csv lists 2 ids'):
        load_keyed_features(tmp_path / 'x.npy', mapping, ITEMS, 'm.csv')
    mapping = read_id_mapping(write_mapping(tmp_path / 'm.csv', ['A01', 'A02', 'NEW']))
    with pytest.raises(DataBuildError, match=r"m.csv: id 'NEW' \(row 2 of .*x.npy\) is not an "
                                             r'item of the graph \(1 such ids\)'):
        load_keyed_features(tmp_path / 'x.npy', mapping, ITEMS, 'm.csv')
    mapping = read_id_mapping(write_mapping(tmp_path / 'm.csv', ['A01', 'A02', 'B07']))
    with pytest.raises(DataBuildError, match=r"item 'C11' of the graph has no row in m.csv "
                                             r'\(2 items have none\)'):
        load_keyed_features(tmp_path / 'x.npy', mapping, ITEMS, 'm.csv')
    mapping = read_id_mapping(write_mapping(tmp_path / 'm.csv', ['A01', 'A02', 'B07'], [0, 1, 5]))
    with pytest.raises(DataBuildError, match=r"id 'B07' owns row 5, but .*x.npy has 3 rows"):
        load_keyed_features(tmp_path / 'x.npy', mapping, ['A01', 'A02', 'B07'], 'm.csv')


def test_row_order_only_file_is_refused_with_what_to_pass(tmp_path):
    beauty = SHARED_DATA / 'amazon-2014-beauty-half-a'
    np.save(tmp_path / 'text_feat.npy', np.ones((3, 2), dtype=np.float32))
    for flag in ('text_features', 'image_features'):
        config = BuildConfig(format='2014', reviews=beauty / 'reviews_Beauty_5.json.gz',
                             out=tmp_path / 'g', progress=False,
                             **{flag: tmp_path / 'text_feat.npy'})
        with pytest.raises(DataBuildError, match=rf'--{flag.replace("_", "-")} .*text_feat.npy: '
                                                 r'the rows of an .npy file carry no item ids'
                                                 r'.*pass --feature-ids .*i_id_mapping.csv'):
            config.validate()
    assert not (tmp_path / 'g').exists()


def test_mean_filled_and_zero_rows_are_missing():
    rng = np.random.default_rng(2)
    real = rng.random((40, 64)).astype(np.float32)
    x = np.concatenate([real, np.repeat(real.astype(np.float64).mean(0, keepdims=True), 3, 0),
                        np.zeros((2, 64))]).astype(np.float32)
    x = x[np.r_[0:10, 40, 10:40, 41, 42, 43, 44]]           # fills among the real rows
    missing = filled_rows(torch.from_numpy(x)).tolist()
    assert [i for i, m in enumerate(missing) if m] == [10, 41, 42, 43, 44]
    assert not filled_rows(torch.from_numpy(real)).any()
    one = np.concatenate([real, real.mean(0, keepdims=True)]).astype(np.float32)
    assert filled_rows(torch.from_numpy(one)).tolist() == [False] * 40 + [True]
