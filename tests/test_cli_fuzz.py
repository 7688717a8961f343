"""Property-based fuzz of both command lines (issue 12): flag values and hand edits of a graph's
``meta.json`` and a run's ``config.json`` / ``metrics.jsonl`` end in exit 0 or in one
``error:`` line with exit 2, never in a traceback.

Hypothesis draws each case from the flags of a command (values that are numbers of every size
and sign, nan/inf, lists, empty or hostile text, paths to files and folders); the data are tiny
(a 30-user graph and run, a 12-user dump) so every case that passes the checks really runs,
with training cut to two epochs. The examples are derandomized, so CI sees the same cases.
"""
import contextlib
import dataclasses
import io
import json
import os
import shutil
import string
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import addrl_graph.training.train as train_module
from addrl_graph.cli import main as addrl_main
from addrl_graph.testing import paper_config, save_tiny_graph
from addrl_graph.training.train import TrainConfig, train
from data_builders.__main__ import main as builder_main

CASES = int(os.environ.get('FUZZ_CASES', 420))  # per test: 5 tests, 2,100 cases
FUZZ = settings(max_examples=CASES, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])

NUMBERS = st.one_of(st.integers(-3, 12), st.sampled_from([-1, 0, 10**6, 10**12, 2**63]),
                    st.sampled_from(['nan', 'inf', '-inf', '1e308', '-0.0', '1e-320', '0.5']))
TEXT = st.one_of(st.sampled_from(['', ' ', 'x', 'a,b', '10,5', '1,,2', '-', '--', 'none',
                                  'leaf', '\x1b[31m', '\x00', '\ud800', 'é', '../../etc',
                                  'price:2', 'price:nan,brand:1e309', 'nope:1', 'price']),
                 st.text(string.printable, max_size=8))
VALUES = st.one_of(NUMBERS.map(str), TEXT)

TRAIN_FLAGS = ['--epochs', '--batch-size', '--lr', '--num-neg', '--patience', '--seed',
               '--device', '--max-minutes', '--eval-batch-size', '--num-neighbors',
               '--d-chunk', '--free-chunks', '--alpha', '--beta', '--gamma', '--l2',
               '--id-encoder', '--encoder-layers', '--ablation', '--model', '--layer-weights',
               '--baseline.l2', '--baseline.embedding-dim', '--baseline.num-layers', '--config']
EXPLAIN_FLAGS = {
    'recommend': ['--user', '--control', '--checkpoint', '--device'],
    'explain': ['--user', '--item', '--checkpoint'],
    'control-study': ['--attribute', '--value', '--num-users', '--min-lean', '--show', '--out'],
    'report': ['--out', '--max-points', '--seed'],
    'evaluate': ['--split', '--checkpoint', '--device'],
}
BUILD_FLAGS = ['--format', '--split', '--seed', '--k-core', '--attributes', '--price-levels',
               '--popularity-levels', '--popularity-source', '--brand-min-count',
               '--category-depth', '--category-min-count', '--extra-min-count',
               '--text-max-length', '--image-size', '--batch-size', '--cache-dir',
               '--text-features', '--image-features', '--feature-ids', '--images']


@pytest.fixture(scope='module')
def world(tmp_path_factory):
    """A tiny graph, a run trained on it, and a tiny 2014 dump, shared by every case."""
    root = tmp_path_factory.mktemp('fuzz')
    graph = save_tiny_graph(root / 'graph', num_users=30, num_items=20, per_user=6)
    run = root / 'run'
    train(graph, run, TrainConfig(epochs=2, batch_size=16), paper_config(d_chunk=4),
          progress=False)
    reviews = [json.dumps({'reviewerID': f'U{u}', 'asin': f'B{(u + k) % 8}', 'overall': 5.0,
                           'unixReviewTime': 1_400_000_000 + k})
               for u in range(12) for k in range(5)]
    metas = [repr({'asin': f'B{i}', 'price': [5.0, 50.0][i % 2], 'brand': f'b{i % 3}',
                   'categories': [['Sports', f'c{i % 2}']]}) for i in range(8)]
    (root / 'reviews.json').write_text('\n'.join(reviews) + '\n')
    (root / 'meta.json').write_text('\n'.join(metas) + '\n')
    (root / 'a-file').write_text('not a folder\n')
    return {'root': root, 'graph': graph, 'run': run, 'reviews': root / 'reviews.json',
            'meta': root / 'meta.json', 'file': root / 'a-file'}


@pytest.fixture(autouse=True)
def in_scratch_folder(world, monkeypatch):
    """Relative paths a case draws (``--out 0``) land in the scratch folder."""
    monkeypatch.chdir(world['root'])


@pytest.fixture(autouse=True)
def two_epochs(monkeypatch):
    """Cases that pass every check train for real, but two epochs at most."""
    real_fit = train_module._fit

    def short_fit(step_model, model, graph, data, loader, optimizer, config, state, *rest):
        config = dataclasses.replace(config, epochs=min(config.epochs, state.epoch + 3))
        return real_fit(step_model, model, graph, data, loader, optimizer, config, state, *rest)
    monkeypatch.setattr(train_module, '_fit', short_fit)


def flag_values(flags: list[str], paths: list[Path]) -> st.SearchStrategy[list[str]]:
    value = st.one_of(VALUES, st.sampled_from([str(p) for p in paths]))
    pairs = st.lists(st.tuples(st.sampled_from(flags), value), max_size=4)
    return pairs.map(lambda items: [part for pair in items for part in pair])


def run_cli(main, argv: list[str]) -> tuple[int, str]:
    """``main(argv)``'s exit code and stderr; a traceback (an exception out of ``main``)
    fails the test."""
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            code = main(argv)
        except SystemExit as e:  # argparse's --help, or a usage error before main's handler
            code = e.code
    return code, err.getvalue()


def check_outcome(code: int, stderr: str, argv: list[str]) -> None:
    event(f'exit {code}')  # pytest --hypothesis-show-statistics shows the split
    assert code in (0, 2), (code, argv, stderr[-2000:])
    assert 'Traceback' not in stderr, (argv, stderr[-2000:])
    if code == 2:
        errors = [line for line in stderr.splitlines() if line.startswith('error:')]
        assert len(errors) == 1, (argv, stderr[-2000:])


class Counter:
    """A fresh output folder per case."""
    n = 0

    @classmethod
    def fresh(cls, root: Path) -> Path:
        cls.n += 1
        return root / 'out' / str(cls.n)


@settings(FUZZ)
@given(data=st.data())
def test_train_flags(world, data):
    flags = data.draw(flag_values(TRAIN_FLAGS, [world['file'], world['graph'], world['meta']]))
    argv = ['--quiet', 'train', '--data', str(world['graph']),
            '--out', str(Counter.fresh(world['root'])), *flags]
    check_outcome(*run_cli(addrl_main, argv), argv)


@settings(FUZZ)
@given(data=st.data())
def test_explain_commands(world, data):
    command = data.draw(st.sampled_from(sorted(EXPLAIN_FLAGS)))
    out = Counter.fresh(world['root'])
    flags = data.draw(flag_values(EXPLAIN_FLAGS[command],
                                  [world['file'], out, out.with_suffix('.png')]))
    argv = ['--quiet', command, '--run', str(world['run']), *flags]
    check_outcome(*run_cli(addrl_main, argv), argv)


@settings(FUZZ)
@given(data=st.data())
def test_build_flags(world, data):
    flags = data.draw(flag_values(BUILD_FLAGS, [world['file'], world['root'], world['meta']]))
    argv = ['--quiet', 'build', '--format', '2014', '--reviews', str(world['reviews']), '--meta',
            str(world['meta']), '--out', str(Counter.fresh(world['root'])), '--k-core', '1',
            '--text-encoder', 'none', '--image-encoder', 'none', '--allow-empty-splits', *flags]
    check_outcome(*run_cli(builder_main, argv), argv)


JSON_VALUES = st.recursive(st.one_of(st.none(), st.booleans(), st.integers(-10**20, 10**20),
                                     st.floats(allow_nan=False), st.text(max_size=6)),
                           lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                   st.dictionaries(st.text(max_size=4), inner,
                                                                   max_size=3)),
                           max_leaves=6)


def edit(document, path: list, value):
    """``document`` with the value at ``path`` (keys / indices, taken modulo) replaced by
    ``value``, or deleted when ``value`` is the string ``'<delete>'``."""
    if not path or not isinstance(document, (dict, list)) or not document:
        return value
    keys = list(document) if isinstance(document, dict) else list(range(len(document)))
    key = keys[path[0] % len(keys)]
    copy = dict(document) if isinstance(document, dict) else list(document)
    if len(path) == 1 and value == '<delete>':
        del copy[key]
    else:
        copy[key] = edit(copy[key], path[1:], value)
    return copy


def edited(data, text: str) -> str:
    """A hand edit of a JSON file: a value replaced or deleted, or the text cut short."""
    if data.draw(st.booleans()) and data.draw(st.booleans()):
        return text[:data.draw(st.integers(0, len(text)))]
    path = data.draw(st.lists(st.integers(0, 50), min_size=1, max_size=4))
    value = data.draw(st.one_of(JSON_VALUES, st.just('<delete>')))
    return json.dumps(edit(json.loads(text), path, value))


@settings(FUZZ)
@given(data=st.data())
def test_edited_graph_meta(world, data):
    graph = Counter.fresh(world['root'])
    shutil.copytree(world['graph'], graph)
    (graph / 'meta.json').write_text(edited(data, (graph / 'meta.json').read_text()))
    command = data.draw(st.sampled_from(['train', 'evaluate', 'recommend']))
    argv = (['--quiet', 'train', '--data', str(graph), '--out', str(graph / 'run'),
             '--epochs', '1'] if command == 'train' else
            ['--quiet', command, '--run', str(world['run']), '--data', str(graph)]
            + (['--user', 'U1'] if command == 'recommend' else []))
    check_outcome(*run_cli(addrl_main, argv), argv)


@settings(FUZZ)
@given(data=st.data())
def test_edited_run_files(world, data):
    run = Counter.fresh(world['root'])
    shutil.copytree(world['run'], run)
    name = data.draw(st.sampled_from(['config.json', 'best.json', 'last.json', 'results.json',
                                      'metrics.jsonl']))
    text = (run / name).read_text()
    if name == 'metrics.jsonl':
        lines = text.splitlines()
        row = data.draw(st.integers(0, len(lines) - 1))
        lines[row] = edited(data, lines[row])
        (run / name).write_text('\n'.join(lines) + '\n')
    else:
        (run / name).write_text(edited(data, text))
    command = data.draw(st.sampled_from(['evaluate', 'recommend', 'resume']))
    argv = (['--quiet', 'train', '--data', str(world['graph']), '--out', str(run), '--resume',
             '--epochs', '3', '--batch-size', '16', '--d-chunk', '4']
            if command == 'resume' else
            ['--quiet', command, '--run', str(run)] + (['--user', 'U1'] if command == 'recommend'
                                                       else []))
    check_outcome(*run_cli(addrl_main, argv), argv)
