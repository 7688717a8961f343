"""Shared fixture factories: tiny processed graphs built in memory."""
from pathlib import Path

import numpy as np
import pytest
import torch

SHARED_DATA = Path(__file__).resolve().parents[2] / 'shared' / 'data'

#: The AD-DRL configuration tuned on the synthetic ``small`` preset (``bench/sweep_options.py``),
#: which the planted-preference tests were calibrated with (at lr 1e-2): ID embeddings,
#: ``A + 1`` chunks of 32, BPR averaged over the batch, alpha 5, beta 0.01, gamma 10, l2 0.1.
#: The library's defaults were chosen on real data instead (see ``ModelConfig``).
SMALL_PRESET_MODEL = dict(id_encoder='embedding', encoder_layers=2, d_chunk=32, free_chunks=1,
                          bpr_reduction='mean', alpha=5.0, beta=0.01, gamma=10.0, l2=0.1)


def tiny_graph_parts(num_users: int = 12, num_items: int = 10, per_user: int = 5, d_t: int = 6,
                     d_v: int = 4, seed: int = 0):
    """Arrays for :func:`addrl_graph.data.assemble.assemble_graph` and a matching meta dict."""
    from data_builders.split import split_interactions

    rng = np.random.default_rng(seed)
    users = np.repeat(np.arange(num_users), per_user)
    items = np.concatenate([rng.choice(num_items, per_user, replace=False)
                            for _ in range(num_users)])
    split = split_interactions(users, 'paper', seed)
    attributes = [{'name': 'price', 'values': ['low', 'high', 'unknown']},
                  {'name': 'brand', 'values': ['a', 'b', 'c', 'd']}]
    attr = np.stack([rng.integers(0, 3, num_items), rng.integers(0, 4, num_items)], axis=1)
    meta = {'users': [f'U{u}' for u in range(num_users)],
            'items': [f'I{i:03d}' for i in range(num_items)], 'attributes': attributes}
    gen = torch.Generator().manual_seed(seed)
    features = dict(x_text=torch.randn(num_items, d_t, generator=gen),
                    has_text=torch.rand(num_items, generator=gen) > 0.2,
                    x_image=torch.randn(num_items, d_v, generator=gen),
                    has_image=torch.rand(num_items, generator=gen) > 0.3)
    return users, items, split, attr, meta, features


@pytest.fixture
def tiny_graph():
    """``(HeteroData, meta)`` of a 12-user, 10-item graph with two attributes."""
    from addrl_graph.data.assemble import assemble_graph

    users, items, split, attr, meta, features = tiny_graph_parts()
    data = assemble_graph(users, items, split, len(meta['users']), attr, meta['attributes'],
                          **features)
    return data, meta


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
