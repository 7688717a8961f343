"""Precomputed features: MMRec .npy matrices and the 2014 binary image features."""
import numpy as np
import pytest
import torch

from data_builders.errors import DataBuildError
from data_builders.features.precomputed import (IMAGE_FEATURE_DIM, RECORD_BYTES,
                                                load_mmrec_features, read_2014_image_features)


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
