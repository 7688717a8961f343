"""End to end: dumps → graph.pt + meta.json, on real files and on synthetic dumps."""
import gzip
import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from addrl_graph import load_graph
from addrl_graph.data.schema import INTERACTS, TRAIN, VALID, split_edges
from data_builders.build import BuildConfig, build
from data_builders.errors import DataBuildError
from tests.conftest import SHARED_DATA

GIFT = SHARED_DATA / 'amazon-2018-gift-cards'


def _gift_config(out, **kw):
    options = dict(text_encoder='none', image_encoder='none', progress=False) | kw
    return BuildConfig(format='2018', reviews=GIFT / 'Gift_Cards_5.json.gz',
                       meta=GIFT / 'meta_Gift_Cards.json.gz', out=out, **options)


def test_real_gift_cards_graph(tmp_path):
    meta = build(_gift_config(tmp_path))
    data, loaded = load_graph(tmp_path)
    stats = loaded['stats']
    # 2,972 review lines; 7 repeat (user, item) pairs; the 5-core then drops 5 users, 1 item.
    assert meta['duplicates_dropped'] == 7
    assert (stats['users'], stats['items'], stats['interactions']) == (453, 147, 2941)
    assert stats['train'] + stats['valid'] + stats['test'] == 2941
    # Every gift card sits in the single category "Gift Cards": the attribute is dropped.
    assert loaded['dropped_attributes'] == ['category']
    names = [a['name'] for a in loaded['attributes']]
    assert names == ['price', 'popularity', 'brand']
    price = loaded['attributes'][0]
    assert price['values'][-1] == 'unknown'
    assert price['fit']['upper_edges'] == sorted(price['fit']['upper_edges'])
    assert 'Amazon' in loaded['attributes'][2]['values']
    assert data['item'].x_text.shape == (147, 0) and not data['item'].has_text.any()
    assert loaded['sources'][0]['sha256'] and loaded['sources'][1]['read']['lines'] == 1547
    # Every user keeps a training interaction.
    train_users = split_edges(data, TRAIN)[0].unique()
    assert train_users.numel() == 453


def test_split_and_seed_are_recorded(tmp_path):
    a = build(_gift_config(tmp_path / 'a', seed=1))
    build(_gift_config(tmp_path / 'b', seed=1))
    build(_gift_config(tmp_path / 'c', seed=2, split='random-811'))
    da, _ = load_graph(tmp_path / 'a')
    db, _ = load_graph(tmp_path / 'b')
    dc, mc = load_graph(tmp_path / 'c')
    assert a['split'] == {'protocol': 'paper', 'seed': 1}
    assert torch.equal(da[INTERACTS].split, db[INTERACTS].split)
    assert mc['split'] == {'protocol': 'random-811', 'seed': 2}
    shares = np.bincount(dc[INTERACTS].split.numpy(), minlength=3) / 2941
    assert 0.75 < shares[TRAIN] < 0.85 and 0.07 < shares[VALID] < 0.13


def test_minilm_text_features_and_cache(tmp_path):
    first = build(_gift_config(tmp_path / 'g1', text_encoder='minilm',
                               cache_dir=tmp_path / 'cache'))
    data, meta = load_graph(tmp_path / 'g1')
    x = data['item'].x_text
    assert x.shape == (147, 384) and data['item'].has_text.all()
    assert torch.allclose(x.norm(dim=1), torch.ones(147), atol=1e-4)
    assert meta['text_encoder']['name'] == 'minilm' and meta['text_encoder']['checksum']
    again = build(_gift_config(tmp_path / 'g2', text_encoder='minilm',
                               cache_dir=tmp_path / 'cache'))
    data2, _ = load_graph(tmp_path / 'g2')
    assert torch.equal(data2['item'].x_text, x)
    assert again['stage_seconds']['text_features'] < first['stage_seconds']['text_features']


def test_synthetic_graph_matches_ground_truth(small_dump, small_graph_dir):
    data, meta = load_graph(small_graph_dir)
    truth = json.loads((small_dump / 'ground_truth.json').read_text())
    assert meta['stats']['users'] == len(truth['users'])
    assert meta['stats']['items'] == len(truth['items'])
    names = [a['name'] for a in meta['attributes']]
    assert names == ['price', 'popularity', 'brand', 'category']
    item_index = {asin: i for i, asin in enumerate(meta['items'])}
    brand_values = meta['attributes'][2]['values']
    for asin, t in list(truth['items'].items())[:200]:
        code = int(data['item'].attr[item_index[asin], 2])
        if t['brand'] is None:
            assert brand_values[code] == 'unknown'
        elif brand_values[code] not in ('other',):
            assert brand_values[code] == t['brand']
    # the 5 planted price bands are recovered as the 5 price levels
    price_codes = data['item'].attr[:, 0].numpy()
    bands = np.array([truth['items'][a]['price_band'] if truth['items'][a]['price'] is not None
                      else -1 for a in meta['items']])
    known = bands >= 0
    assert np.array_equal(price_codes[known], bands[known])
    images = {p.stem for p in (small_dump / 'images').glob('*.png')}
    has_image = data['item'].has_image.numpy()
    assert has_image.sum() == len(images & set(meta['items']))
    assert data['item'].x_image.shape[1] == 1280 and data['item'].x_text.shape[1] == 384


def _write_jsonl_gz(path, rows):
    with gzip.open(path, 'wt') as f:
        f.write('\n'.join(json.dumps(r) for r in rows) + '\n')


def test_2023_format_with_missing_fields(tmp_path):
    rng = np.random.default_rng(0)
    reviews = []
    for u in range(12):
        for i in rng.choice(8, 5, replace=False):
            reviews.append({'user_id': f'AE{u:04d}', 'parent_asin': f'B0{i:08d}',
                            'rating': 5.0, 'timestamp': 1_600_000_000_000 + u, 'text': 'ok',
                            'title': 'fine'})
    reviews.append({'user_id': 'AE0000', 'parent_asin': 'B000000001'})   # only the ids
    metas = [{'parent_asin': f'B0{i:08d}', 'title': f'Thing {i}', 'price': [9.99, 20.0][i % 2],
              'store': ['Acme', 'Globex'][i % 2], 'categories': ['Sports', ['Camping', 'Golf'][i % 2]],
              'main_category': 'Sports', 'details': {'Material': ['wood', 'steel'][i % 2]},
              'images': []} for i in range(7)]
    metas.append({'parent_asin': 'B000000007'})                            # only the id
    _write_jsonl_gz(tmp_path / 'r.jsonl.gz', reviews)
    _write_jsonl_gz(tmp_path / 'm.jsonl.gz', metas)
    config = BuildConfig(format='2023', reviews=tmp_path / 'r.jsonl.gz',
                         meta=tmp_path / 'm.jsonl.gz', out=tmp_path / 'g', k_core=2,
                         text_encoder='none', image_encoder='none', progress=False)
    config.attributes.names = ['price', 'brand', 'category', 'extra:Material']
    config.attributes.brand_min_count = 1
    build(config)
    data, meta = load_graph(tmp_path / 'g')
    assert [a['name'] for a in meta['attributes']] == ['price', 'brand', 'category', 'material']
    assert meta['attributes'][1]['values'] == ['Acme', 'Globex', 'unknown']
    assert set(meta['attributes'][2]['values']) == {'Camping', 'Golf', 'unknown'}
    last = meta['items'].index('B000000007')
    assert meta['attributes'][3]['values'][int(data['item'].attr[last, 3])] == 'unknown'


def test_meta_matching_no_review_is_an_error(tmp_path):
    other = SHARED_DATA / 'amazon-2018-magazine-meta' / 'meta_Magazine_Subscriptions.json.gz'
    config = _gift_config(tmp_path)
    config.meta = other
    with pytest.raises(DataBuildError, match='no metadata line matches'):
        build(config)


def test_cli_build_and_clean_errors(tmp_path):
    ok = subprocess.run([sys.executable, '-m', 'data_builders', '--quiet', 'build', '--format',
                         '2018', '--reviews', str(GIFT / 'Gift_Cards_5.json.gz'), '--meta',
                         str(GIFT / 'meta_Gift_Cards.json.gz'), '--text-encoder', 'none',
                         '--image-encoder', 'none', '--out', str(tmp_path / 'g')],
                        capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    assert '#user' in ok.stdout and '453' in ok.stdout and '2,941' in ok.stdout
    assert (tmp_path / 'g' / 'graph.pt').is_file()
    bad = subprocess.run([sys.executable, '-m', 'data_builders', 'build', '--format', '2018',
                          '--reviews', str(tmp_path / 'missing.json.gz'), '--out',
                          str(tmp_path / 'x')], capture_output=True, text=True)
    assert bad.returncode == 2
    assert 'missing.json.gz' in bad.stderr and 'Traceback' not in bad.stderr
    assert not (tmp_path / 'x' / 'graph.pt').exists()


def test_precomputed_features_are_imported(tmp_path):
    first = build(_gift_config(tmp_path / 'plain'))
    items = first['items']
    text = np.random.default_rng(0).normal(size=(len(items), 8)).astype(np.float32)
    np.save(tmp_path / 'text_feat.npy', text)
    (tmp_path / 'ids.csv').write_text('asin\titemID\n' + ''.join(f'{a}\t{r}\n'
                                                                  for r, a in enumerate(items)))
    with open(tmp_path / 'image_features_Gift.b', 'wb') as f:       # 10-byte asin + 4096 floats
        for asin in items[:5]:
            f.write(asin.encode().ljust(10)[:10])
            f.write(np.full(4096, 0.5, dtype='<f4').tobytes())
    build(_gift_config(tmp_path / 'g', text_features=tmp_path / 'text_feat.npy',
                       feature_ids=tmp_path / 'ids.csv',
                       image_features=tmp_path / 'image_features_Gift.b'))
    data, meta = load_graph(tmp_path / 'g')
    assert torch.allclose(data['item'].x_text, torch.from_numpy(text))
    assert meta['text_encoder']['name'] == 'precomputed:text_feat.npy'
    assert data['item'].x_image.shape == (len(items), 4096)
    assert data['item'].has_image.tolist() == [True] * 5 + [False] * (len(items) - 5)
