"""Shared fixture factories: tiny processed graphs built in memory."""
from pathlib import Path

import pytest
import torch

from addrl_graph import testing
from addrl_graph.testing import SMALL_PRESET_MODEL  # noqa: F401 (imported from here by tests)

SHARED_DATA = Path(__file__).resolve().parents[2] / 'shared' / 'data'


@pytest.fixture
def tiny_graph():
    """``(HeteroData, meta)`` of :func:`addrl_graph.testing.tiny_graph`: 12 users with 5 items
    each (3 train, 1 validation, 1 test) over 10 items, two attributes."""
    return testing.tiny_graph()


@pytest.fixture(scope='session')
def small_dump(tmp_path_factory):
    """The synthetic ``small`` preset (2014 format, images, ground truth), written once."""
    from data_builders.synthetic import generate

    out = tmp_path_factory.mktemp('small_dump')
    generate(out, preset='small', seed=0, images=True, progress=False)
    return out


@pytest.fixture(scope='session')
def small_graph_dir(small_dump, tmp_path_factory):
    """A graph of the ``small`` preset with real minilm text and EfficientNet image features
    (64-pixel input, short documents, to stay fast), built once per test session."""
    from data_builders.build import BuildConfig, build

    out = tmp_path_factory.mktemp('small_graph')
    build(BuildConfig(format='2014', reviews=small_dump / 'reviews.json.gz',
                      meta=small_dump / 'meta.json.gz', images=small_dump / 'images',
                      out=out, text_reviews=False, text_max_length=64, image_size=64,
                      progress=False))
    return out


@pytest.fixture
def one_thread():
    """Tiny tensors: one intra-op thread avoids OpenMP spinning on a busy 2-core machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
