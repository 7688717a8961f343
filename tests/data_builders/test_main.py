"""The command line ``python -m data_builders`` (:mod:`data_builders.__main__`): every flag
spelling lands on its config field; nothing here reads a dump (``build`` and ``generate`` are
replaced by fakes that capture their arguments)."""
from pathlib import Path

import pytest

import data_builders.build
import data_builders.synthetic
from data_builders.__main__ import main
from data_builders.attributes import AttributeConfig
from data_builders.build import BuildConfig
from data_builders.errors import DataBuildError


class Captured(Exception):
    """Raised by the fakes to carry what the command passed on."""


@pytest.fixture
def captured(monkeypatch):
    def fake_build(config):
        raise Captured(config)

    def fake_generate(*args, **kwargs):
        raise Captured((args, kwargs))

    monkeypatch.setattr(data_builders.build, 'build', fake_build)
    monkeypatch.setattr(data_builders.synthetic, 'generate', fake_generate)

    def run(argv):
        with pytest.raises(Captured) as info:
            main(argv)
        return info.value.args[0]
    return run


REQUIRED = ['build', '--format', '2018', '--reviews', 'r.json.gz', '--out', 'out']


def test_defaults_are_the_dataclass_defaults(captured):
    config = captured(['--quiet', *REQUIRED])
    assert config == BuildConfig(format='2018', reviews=Path('r.json.gz'), out=Path('out'),
                                 progress=False)


def test_every_build_flag_reaches_its_field(captured):
    config = captured([
        *REQUIRED, '--meta', 'm.json', '--images', 'img', '--text-encoder', 'none',
        '--image-encoder', 'google/vit', '--text-features', 't.npy', '--image-features', 'i.b',
        '--text-max-length', '128', '--image-size', '96', '--no-text-reviews', '--split',
        'mmrec', '--seed', '3', '--k-core', '2', '--strict', '--cache-dir', 'cache',
        '--batch-size', '8', '--device', 'cuda:1', '--attributes', 'price, brand,extra:Material',
        '--price-levels', '4', '--popularity-levels', '3', '--popularity-source', 'sales_rank',
        '--brand-min-count', '1', '--category-depth', '2', '--category-min-count', '3',
        '--extra-min-count', '5'])
    assert config == BuildConfig(
        format='2018', reviews=Path('r.json.gz'), out=Path('out'), meta=Path('m.json'),
        images=Path('img'), text_encoder='none', image_encoder='google/vit',
        text_features=Path('t.npy'), image_features=Path('i.b'), text_max_length=128,
        image_size=96, text_reviews=False, split='mmrec', seed=3, k_core=2, strict=True,
        cache_dir=Path('cache'), batch_size=8, device='cuda:1', progress=False,
        attributes=AttributeConfig(names=['price', 'brand', 'extra:Material'], price_levels=4,
                                   popularity_levels=3, popularity_source='sales_rank',
                                   brand_min_count=1, category_depth=2, category_min_count=3,
                                   extra_min_count=5))


@pytest.mark.parametrize('depth', ['leaf', 'none', 'None'])
def test_category_depth_leaf_is_none(captured, depth):
    assert captured([*REQUIRED, '--category-depth', depth]).attributes.category_depth is None


def test_download_images(captured):
    config = captured([*REQUIRED, '--download-images'])
    assert config.download_images is True and config.images is None


def exit_code(argv):
    """What ``python -m data_builders`` exits with: ``main``'s return value or its
    ``SystemExit``."""
    try:
        return main(argv)
    except SystemExit as e:
        return e.code


@pytest.mark.parametrize('argv, words', [
    (REQUIRED[:1] + REQUIRED[3:], ['--format']),
    ([*REQUIRED, '--format', '2019'], ['--format', '2019']),
    ([*REQUIRED, '--k-core', 'abc'], ['k', 'abc']),
    ([*REQUIRED, '--split', 'random'], ['split', 'random']),
    ([*REQUIRED, '--popularity-source', 'stars'], ['popularity', 'stars']),
    ([*REQUIRED, '--no-such-flag'], ['--no-such-flag']),
    (['synthetic', '--out', 'o', '--preset', 'huge'], ['preset', 'huge']),
    (['synthetic'], ['--out']),
])
def test_bad_command_lines_exit_2_with_one_error(captured, capsys, argv, words):
    assert exit_code(argv) == 2
    err = capsys.readouterr().err
    assert 'error:' in err and 'Traceback' not in err
    for word in words:
        assert word in err


def test_images_and_download_images_exclude_each_other(tmp_path, capsys):
    (tmp_path / 'r.json').write_text('{}')
    (tmp_path / 'img').mkdir()
    argv = ['build', '--format', '2018', '--reviews', str(tmp_path / 'r.json'), '--out',
            str(tmp_path / 'out'), '--images', str(tmp_path / 'img'), '--download-images']
    assert exit_code(argv) == 2
    err = capsys.readouterr().err
    assert 'error:' in err and '--images' in err and '--download-images' in err
    assert not (tmp_path / 'out').exists()


def test_build_errors_print_one_line_and_return_2(monkeypatch, capsys):
    def fails(config):
        raise DataBuildError('r.json.gz: no such file')

    monkeypatch.setattr(data_builders.build, 'build', fails)
    assert main(REQUIRED) == 2
    assert capsys.readouterr().err == 'error: r.json.gz: no such file\n'


def test_synthetic_flags(captured):
    args, kwargs = captured(['--quiet', 'synthetic', '--preset', 'sports', '--seed', '4',
                             '--no-images', '--out', 'raw'])
    assert (args, kwargs) == ((Path('raw'),), dict(preset='sports', seed=4, images=False,
                                                   progress=False))
    args, kwargs = captured(['synthetic', '--out', 'raw'])
    assert kwargs == dict(preset='small', seed=0, images=True, progress=False)


def test_help_names_the_flags_and_their_help(capsys):
    with pytest.raises(SystemExit) as info:
        main(['build', '--help'])
    assert info.value.code == 0
    out = capsys.readouterr().out
    for flag in ('--k-core', '--no-text-reviews', '--download-images', '--category-depth',
                 '--attributes', '--popularity-source'):
        assert flag in out
    assert 'minimum interactions per user and per item' in out
