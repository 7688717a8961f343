"""Issue 12 on the builder's side: input and options a hostile user gives end in a counted
skip or in one ``DataBuildError`` line, never in a traceback or a silently wrong graph. The
dumps are hand-written and tiny (k-core 1, no encoders), so each build takes milliseconds."""
import hashlib
import json
import os
from pathlib import Path

import pytest

import data_builders.build
import data_builders.synthetic
from addrl_graph.errors import FolderLocked
from addrl_graph.locks import folder_lock
from data_builders.__main__ import main
from data_builders.attributes import AttributeConfig
from data_builders.build import BuildConfig, build, read_item_meta
from data_builders.errors import DataBuildError
from data_builders.features.fetch import fetch_images, is_public_address
from data_builders.readers import ReadStats, read_meta, read_reviews
from data_builders.readers.fields import opt_price
from data_builders.summary import format_summary
from data_builders.synthetic import generate
from tests.conftest import SHARED_DATA
from tests.data_builders.test_fetch import server  # noqa: F401 (the local image server)


def review(user, item, time=1_400_000_000):
    return json.dumps({'reviewerID': user, 'asin': item, 'overall': 5.0,
                       'unixReviewTime': time})


def item_meta(item, price):
    """A 2014 metadata line: a Python dict literal."""
    return repr({'asin': item, 'price': price, 'salesRank': {'Sports': 10}})


def write(path, lines):
    path.write_text('\n'.join(lines) + '\n', encoding='utf-8')
    return path


def tiny_dump(folder, users=12, per_user=5, items=8, extra_reviews=(), extra_meta=()):
    """Reviews of ``users`` users with ``per_user`` items each, and metadata whose prices
    alternate between two values (so the price attribute has two levels)."""
    reviews = [review(f'U{u:02d}', f'B{(u + k) % items}', 1_400_000_000 + k)
               for u in range(users) for k in range(per_user)]
    metas = [*extra_meta, *(item_meta(f'B{i}', [5.0, 50.0][i % 2]) for i in range(items))]
    return (write(folder / 'reviews.json', [*reviews, *extra_reviews]),
            write(folder / 'meta.json', metas))


def config(folder, reviews, meta, **kw):
    return BuildConfig(format='2014', reviews=reviews, meta=meta, out=folder / 'graph', k_core=1,
                       text_encoder='none', image_encoder='none', progress=False, **kw)


def changed(cfg, **fields):
    """``cfg`` with ``fields`` set after it was made, as a library caller may."""
    for key, value in fields.items():
        setattr(cfg, key, value)
    return cfg


@pytest.fixture
def no_build(monkeypatch):
    """``main`` must refuse the options itself: reaching ``build`` or ``generate`` fails."""
    def reached(*args, **kwargs):
        raise AssertionError('the command reached the build')

    monkeypatch.setattr(data_builders.build, 'build', reached)
    monkeypatch.setattr(data_builders.synthetic, 'generate', reached)


def one_line_error(capsys, argv, *words):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith('error: ') and err.count('\n') == 1 and 'Traceback' not in err
    for word in words:
        assert word in err
    return err


BUILD = ['build', '--format', '2014', '--reviews', 'r.json', '--out', 'out']


# --------------------------------------------------------------------- 7: unprintable ids

BAD_IDS = ['\x1b[31mA1', 'A\x00', 'A\ud800', 'A\u202eB', 'A\u200bB']


def test_unprintable_ids_are_skipped_per_line_and_counted(tmp_path):
    reviews, meta = tiny_dump(tmp_path, extra_reviews=[review(u, 'B1') for u in BAD_IDS],
                              extra_meta=[item_meta('B\x1b1', 5.0)])
    stats = ReadStats(str(reviews))
    users = {r.user_id for r in read_reviews(reviews, '2014', stats)}
    assert stats.skipped == {'bad_id': len(BAD_IDS)} and users.isdisjoint(BAD_IDS)
    result = build(config(tmp_path, reviews, meta))
    assert [s['read']['skipped'] for s in result['sources']] == [{'bad_id': 5}, {'bad_id': 1}]
    assert all(u.isprintable() for u in result['users'] + result['items'])
    assert "skipped {'bad_id': 5}" in format_summary(result)


def test_strict_stops_at_the_first_unprintable_id(tmp_path):
    meta = write(tmp_path / 'meta.json', [item_meta('B0', 5.0), item_meta('B\x1b[2J', 5.0)])
    with pytest.raises(DataBuildError, match=r'meta.json:2: bad_id') as info:
        list(read_meta(meta, '2014', strict=True))
    message = str(info.value)
    assert '\x1b' not in message and '\\x1b' in message and '\n' not in message


# --------------------------------------------------------------- 8: duplicate metadata

def test_duplicate_metadata_lines_first_wins_and_are_counted(tmp_path):
    reviews, meta = tiny_dump(tmp_path, extra_meta=[item_meta('B1', 7.0)])
    stats = ReadStats(str(meta))
    metas = read_item_meta(meta, '2014', {'B1', 'B2'}, stats, False, reviews)
    assert metas['B1'].price == 7.0                       # the first line of B1
    assert stats.skipped == {'duplicate_item': 1} and stats.kept == stats.lines - 1
    result = build(config(tmp_path, reviews, meta))
    assert result['sources'][1]['read']['skipped'] == {'duplicate_item': 1}
    assert 'the first line of each item is used' in format_summary(result)
    with pytest.raises(DataBuildError, match="'B1' has more than one metadata line"):
        read_item_meta(meta, '2014', {'B1'}, ReadStats(str(meta)), True, reviews)


# ----------------------------------------------------- 10: output folders, seed, depth

def unwritable(tmp_path):
    """A folder this process cannot create (root ignores permissions: /sys refuses it)."""
    if os.geteuid() != 0:
        parent = tmp_path / 'read-only'
        parent.mkdir(mode=0o500)
        return parent / 'graph'
    if not Path('/sys/kernel').is_dir():
        pytest.skip('running as root without /sys: no folder is unwritable')
    return Path('/sys/addrl-hostile-build')


@pytest.mark.parametrize('where', ['file', 'below a file', 'unwritable'])
def test_out_that_cannot_be_a_folder_is_one_error(tmp_path, where):
    reviews, meta = tiny_dump(tmp_path)
    out = (reviews if where == 'file' else reviews / 'graph' if where == 'below a file'
           else unwritable(tmp_path))
    with pytest.raises(DataBuildError, match='^--out: .*(not a folder|not writable|cannot create)'):
        build(changed(config(tmp_path, reviews, meta), out=out))
    if where == 'file':
        with pytest.raises(DataBuildError, match='^--cache-dir: .* is a file'):
            build(changed(config(tmp_path, reviews, meta), cache_dir=out))


def test_synthetic_out_naming_a_file(tmp_path, capsys):
    file = write(tmp_path / 'taken', ['x'])
    with pytest.raises(DataBuildError, match='--out: .* is a file'):
        generate(file, images=False, progress=False)
    one_line_error(capsys, ['synthetic', '--no-images', '--out', str(file)], '--out')


def test_negative_seed_is_refused_before_any_work(no_build, capsys):
    with pytest.raises(DataBuildError, match=r'--seed .*\(got -1\)'):
        BuildConfig(format='2014', reviews=Path('r.json'), out=Path('out'), seed=-1)
    one_line_error(capsys, [*BUILD, '--seed', '-1'], '--seed', '-1')


def test_negative_synthetic_seed_is_refused_before_writing(tmp_path, capsys):
    with pytest.raises(DataBuildError, match=r'seed .*\(got -1\)'):
        generate(tmp_path / 'raw', seed=-1, images=False, progress=False)
    one_line_error(capsys, ['synthetic', '--out', str(tmp_path / 'raw'), '--seed', '-1'], 'seed')
    assert not (tmp_path / 'raw').exists()


def test_negative_category_depth_is_refused(no_build, capsys):
    with pytest.raises(DataBuildError, match=r'--category-depth .*\(got -100\)'):
        AttributeConfig(category_depth=-100)
    one_line_error(capsys, [*BUILD, '--category-depth', '-100'], '--category-depth')


def test_format_mismatch_names_the_right_format(tmp_path):
    reviews, meta = tiny_dump(tmp_path)
    with pytest.raises(DataBuildError, match='not 2018: pass --format 2014'):
        build(changed(config(tmp_path, reviews, meta), format='2018'))
    gift = SHARED_DATA / 'amazon-2018-gift-cards'
    with pytest.raises(DataBuildError, match='not 2014: pass --format 2018'):
        build(config(tmp_path, gift / 'Gift_Cards_5.json.gz', gift / 'meta_Gift_Cards.json.gz'))
    reviews_2023 = write(tmp_path / 'r2023.jsonl', [json.dumps(
        {'user_id': 'U1', 'parent_asin': 'B1', 'rating': 5.0, 'timestamp': 1})])
    with pytest.raises(DataBuildError, match='not 2014: pass --format 2023'):
        build(config(tmp_path, reviews_2023, None))
    assert not (tmp_path / 'graph').exists()


# ------------------------------------------------------------- 11: reserved attributes

@pytest.mark.parametrize('names', [
    ['price', 'extra:others'], ['extra:user'], ['price', 'extra:Item'], ['price', 'extra:price'],
    ['extra:Material', 'extra:material'], ['brand', 'brand']])
def test_reserved_or_repeated_attribute_names_are_refused_when_parsed(names):
    with pytest.raises(DataBuildError, match='^--attributes: .*(reserved|both named)'):
        AttributeConfig(names=names)


def test_reserved_attribute_on_the_command_line(no_build, capsys):
    one_line_error(capsys, [*BUILD, '--attributes', 'price,extra:user'], "'user'", 'reserved')


# ------------------------------------------------------------------- 12: empty splits

def test_empty_test_split_is_refused_unless_allowed(tmp_path, caplog):
    reviews, meta = tiny_dump(tmp_path, users=6, per_user=2)   # 2 items: none held out
    with pytest.raises(DataBuildError, match='test split empty.*--allow-empty-splits'):
        build(config(tmp_path, reviews, meta))
    assert not (tmp_path / 'graph' / 'graph.pt').exists()
    result = build(config(tmp_path, reviews, meta, allow_empty_splits=True))
    assert result['stats']['test'] == 0
    assert 'test split empty' in caplog.text and '--allow-empty-splits' in caplog.text


# -------------------------------------------------------------------- 13: price bound

@pytest.mark.parametrize('value', [1e308, '$2,000,000.00', float('inf'), float('nan'), 0, -3.0,
                                   1_000_000.01])
def test_absurd_prices_are_missing(value):
    issues = []
    assert opt_price(value, issues) is None and issues == ['invalid_price']


def test_price_bound_keeps_level_names_short(tmp_path):
    assert opt_price(1_000_000, []) == 1_000_000 and opt_price('$999.99', []) == 999.99
    reviews, meta = tiny_dump(tmp_path, extra_reviews=[review('U00', 'B9')],
                              extra_meta=[item_meta('B9', 1e308)])
    result = build(config(tmp_path, reviews, meta))
    assert result['sources'][1]['read']['skipped'] == {'invalid_price': 1}
    assert max(len(v) for v in result['attributes'][0]['values']) < 30


# ----------------------------------------------- 14: options first, overwrite, lock, URLs

@pytest.mark.parametrize('flag, value', [('--k-core', '-1'), ('--price-levels', '0'),
                                         ('--popularity-levels', '0'), ('--batch-size', '0'),
                                         ('--brand-min-count', '0'), ('--image-size', '0')])
def test_pure_options_are_checked_before_the_dumps(no_build, capsys, flag, value):
    # r.json does not exist: the option is refused before any file is looked at.
    one_line_error(capsys, [*BUILD, flag, value], flag, f'(got {value})')


def test_build_refuses_to_overwrite_a_graph(tmp_path):
    reviews, meta = tiny_dump(tmp_path)
    build(config(tmp_path, reviews, meta))
    graph = tmp_path / 'graph' / 'graph.pt'
    digest = hashlib.sha256(graph.read_bytes()).hexdigest()
    with pytest.raises(DataBuildError, match='already holds a graph .*--overwrite'):
        build(config(tmp_path, reviews, meta, seed=1))
    assert hashlib.sha256(graph.read_bytes()).hexdigest() == digest
    again = build(config(tmp_path, reviews, meta, seed=1, overwrite=True))
    assert again['split']['seed'] == 1 and 'overwrite' not in again['build_config']


def test_graph_folder_is_locked_while_building(tmp_path):
    reviews, meta = tiny_dump(tmp_path)
    with folder_lock(tmp_path / 'graph', 'graph folder'):
        with pytest.raises(FolderLocked, match=f'in use by process {os.getpid()}'):
            build(config(tmp_path, reviews, meta))
    assert not (tmp_path / 'graph' / 'graph.pt').exists()


@pytest.mark.parametrize('address, public', [
    ('127.0.0.1', False), ('10.1.2.3', False), ('172.16.0.1', False), ('192.168.1.1', False),
    ('169.254.169.254', False), ('100.64.0.1', False), ('0.0.0.0', False), ('240.0.0.1', False),
    ('224.0.0.1', False), ('::1', False), ('fe80::1%eth0', False), ('fc00::1', False),
    ('::ffff:127.0.0.1', False), ('8.8.8.8', True), ('2001:4860:4860::8888', True)])
def test_address_check(address, public):
    assert is_public_address(address) is public


def test_downloader_refuses_private_addresses(server, tmp_path, caplog):  # noqa: F811
    port = server.rsplit(':', 1)[1]
    urls = {'loopback': [f'{server}/ok.png'], 'localhost': [f'http://localhost:{port}/ok.png'],
            'https': [f'https://127.0.0.1:{port}/ok.png']}
    paths, outcomes = fetch_images(urls, tmp_path / 'a', progress=False, retries=0)
    assert paths == {} and outcomes == {'private_address': 3}
    assert '--allow-private-urls' in caplog.text and not list((tmp_path / 'a').iterdir())
    paths, outcomes = fetch_images({'loopback': urls['loopback']}, tmp_path / 'b',
                                   progress=False, allow_private=True)
    assert outcomes == {'ok': 1}


def test_new_flags_reach_their_fields(monkeypatch):
    seen = []
    monkeypatch.setattr(data_builders.build, 'build', lambda cfg: seen.append(cfg) or {})
    monkeypatch.setattr('data_builders.summary.format_summary', lambda meta: '')
    main([*BUILD, '--overwrite', '--allow-empty-splits', '--allow-private-urls'])
    cfg, = seen
    assert cfg.overwrite and cfg.allow_empty_splits and cfg.image_options().allow_private_urls
