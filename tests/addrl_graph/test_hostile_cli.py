"""Bounded sizes and one error path on both command lines (issue 12, cases 9 and 10): every
size flag has a bound (the graph's where that matters, and an estimate of the memory), and a
user's error, hand-edited run or graph files included, is one line ``error: ...`` with exit 2;
Ctrl-C exits 130 without a traceback; internal errors keep theirs."""
from __future__ import annotations

import errno
import json
import shutil

import pytest
import torch

import addrl_graph.training.config as training_config
import addrl_graph.training.train as train_module
import data_builders.synthetic
from addrl_graph.cli import main
from addrl_graph.data.schema import load_graph
from addrl_graph.data.train_graph import TrainGraph
from addrl_graph.errors import ConfigError
from addrl_graph.nn.config import ModelConfig
from addrl_graph.testing import save_tiny_graph
from addrl_graph.training.config import TrainConfig, check_sizes, estimate_memory
from addrl_graph.training.train import train
from data_builders.__main__ import main as build_main

pytestmark = pytest.mark.usefixtures('one_thread')


def one_error_line(capsys) -> str:
    """The single line a failing command printed on stderr (no traceback)."""
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith('error: '), err
    return err[0]


@pytest.fixture(scope='module')
def graph(tmp_path_factory):
    return save_tiny_graph(tmp_path_factory.mktemp('hostile') / 'graph')   # 12 users, 10 items


def train_args(graph, out, *flags):
    return ['--quiet', 'train', '--data', str(graph), '--out', str(out), '--epochs', '1',
            '--batch-size', '16', *flags]


@pytest.fixture(scope='module')
def run(graph):
    run = graph.parent / 'run'
    assert main(train_args(graph, run)) == 0
    return run


# ------------------------------------------------------------------ case 9: bounded sizes
@pytest.mark.parametrize('flags, words', [
    (['--d-chunk', '100000000'], ['d_chunk', '[1, 1024]', '(got 100000000)']),
    (['--free-chunks', '100000'], ['free_chunks', '[0, 64]', '(got 100000)']),
    (['--encoder-layers', '100000'], ['encoder_layers', '[0, 16]', '(got 100000)']),
    (['--batch-size', str(2 ** 30)], ['--batch-size', '1048576', f'(got {2 ** 30})']),
    (['--eval-batch-size', '0'], ['--eval-batch-size', '[1, 65536]', '(got 0)']),
    (['--eval-batch-size', '1000000'], ['--eval-batch-size', '(got 1000000)']),
    (['--num-neighbors', '100000,5'], ['--num-neighbors', '1024', '(got [100000, 5])']),
    (['--model', 'bpr-mf', '--baseline.embedding-dim', '1000000'],
     ['embedding_dim', '4096', '(got 1000000)']),
    (['--model', 'lightgcn', '--baseline.num-layers', '1000'], ['num_layers', '(got 1000)']),
    (['--seed', str(2 ** 70)], ['--seed', f'(got {2 ** 70})']),
])
def test_size_flags_are_bounded_when_parsed(tmp_path, capsys, flags, words):
    assert main(train_args(tmp_path / 'graph', tmp_path / 'run', *flags, '--print-config')) == 2
    line = one_error_line(capsys)
    assert all(word in line for word in words), line


def test_num_neg_must_be_below_the_item_count_before_any_training(graph, tmp_path, capsys):
    assert main(train_args(graph, tmp_path / 'run', '--num-neg', '10')) == 2
    line = one_error_line(capsys)
    assert '--num-neg' in line and 'number of items (10)' in line and '(got 10)' in line
    assert not (tmp_path / 'run' / 'config.json').exists()


def test_the_memory_estimate_names_the_flag_and_its_largest_value(graph):
    tiny = TrainGraph.from_data(*load_graph(graph))
    config, model = TrainConfig(num_neg=2), ModelConfig(d_chunk=8)
    small_batches = TrainConfig(num_neg=2, batch_size=4)
    need = estimate_memory(config, model, tiny)
    assert need.tables == 4 * (12 + 10) * (2 + 1) * 8 * (4 + 3)   # lightgcn keeps 2 + 1 layers
    assert need.per_eval_user == 4 * 10 and need.per_triplet == 4 * 2 * 4 * 24
    with pytest.raises(ConfigError, match=r'--d-chunk must be at most 4 .*\(got 8\)'):
        check_sizes(config, model, tiny, memory=need.tables // 2)
    with pytest.raises(ConfigError, match=r'--baseline.embedding-dim must be at most'):
        check_sizes(TrainConfig(model='bpr-mf'), model, tiny, memory=1000)
    left = 100 * need.per_eval_user + 5                     # and 4 triplets fit
    with pytest.raises(ConfigError, match=r'--eval-batch-size must be at most 100 .*\(got 1024\)'):
        check_sizes(small_batches, model, tiny, memory=need.tables + left)
    with pytest.raises(ConfigError, match=r'--batch-size must be at most 7 .*\(got 1024\)'):
        check_sizes(config, model, tiny, memory=need.tables + 7 * need.per_triplet)
    check_sizes(config, model, tiny, memory=need.tables + 1024 * need.per_triplet)


def test_train_checks_the_memory_before_writing_the_run(graph, tmp_path, monkeypatch):
    monkeypatch.setattr(training_config, 'device_memory', lambda device: 1000)
    with pytest.raises(ConfigError, match=r'--d-chunk must be below 1 .*\(got 64\)'):
        train(graph, tmp_path / 'run', TrainConfig(epochs=1), progress=False)
    assert not (tmp_path / 'run' / 'config.json').exists()


# ------------------------------------------------------------- case 10: one line, exit 2
def test_device_names_are_checked(graph, run, tmp_path, capsys, monkeypatch):
    assert main(train_args(graph, tmp_path / 'a', '--device', 'foo')) == 2
    assert "--device must be 'cpu' or 'cuda[:n]' (got 'foo')" in one_error_line(capsys)
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)       # a CPU-only machine
    assert main(train_args(graph, tmp_path / 'b', '--device', 'cuda')) == 2
    assert '--device cuda is not available' in one_error_line(capsys)
    assert main(['evaluate', '--run', str(run), '--device', 'cuda:1']) == 2
    assert '--device cuda:1 is not available' in one_error_line(capsys)
    assert not (tmp_path / 'a').exists() and not (tmp_path / 'b').exists()


def test_out_naming_a_file(graph, tmp_path, capsys):
    path = tmp_path / 'notes.txt'
    path.write_text('mine')
    assert main(train_args(graph, path)) == 2
    assert '--out names a file, but train writes a folder there' in one_error_line(capsys)
    assert main(train_args(graph, path / 'run')) == 2
    assert f'--out {path / "run"}: Not a directory' in one_error_line(capsys)
    assert path.read_text() == 'mine'


@pytest.mark.parametrize('edit', [
    lambda meta: [],
    lambda meta: {**meta, 'users': 5},
    lambda meta: {**meta, 'items': [1, 2]},
    lambda meta: {**meta, 'attributes': [{'values': ['a']}]},
    lambda meta: {**meta, 'attributes': 'price'},
    lambda meta: {k: v for k, v in meta.items() if k != 'users'},
])
def test_a_hand_edited_meta_json_is_one_line_naming_it(graph, tmp_path, capsys, edit):
    edited = tmp_path / 'graph'
    shutil.copytree(graph, edited)
    meta = json.loads((edited / 'meta.json').read_text())
    (edited / 'meta.json').write_text(json.dumps(edit(meta)))
    assert main(train_args(edited, tmp_path / 'run')) == 2
    assert str(edited / 'meta.json') in one_error_line(capsys)


@pytest.mark.parametrize('edit', [
    lambda config: [],
    lambda config: {k: v for k, v in config.items() if k != 'train'},
    lambda config: {**config, 'train': {**config['train'], 'epochs': 'many'}},
    lambda config: {**config, 'train': {**config['train'], 'baseline': 5}},
    lambda config: {**config, 'train': {**config['train'], 'learning_rate': 1}},
    lambda config: {**config, 'model': {**config['model'], 'd_chunk': 'wide'}},
])
def test_a_hand_edited_config_json_is_one_line_naming_it(run, tmp_path, capsys, edit):
    edited = tmp_path / 'run'
    shutil.copytree(run, edited)
    config = json.loads((edited / 'config.json').read_text())
    (edited / 'config.json').write_text(json.dumps(edit(config)))
    assert main(['evaluate', '--run', str(edited)]) == 2
    assert f'{edited / "config.json"} is not a run config' in one_error_line(capsys)


@pytest.mark.parametrize('text', ['{"epoch": 0', '[0]\n', '{"loss": 1.0}\n', b'\xff\xfe\n'])
def test_a_damaged_metrics_jsonl_is_one_line_naming_it(graph, run, tmp_path, capsys, text):
    edited = tmp_path / 'run'
    shutil.copytree(run, edited)
    rows = (edited / 'metrics.jsonl').read_bytes()
    (edited / 'metrics.jsonl').write_bytes(rows + (text if isinstance(text, bytes)
                                                   else text.encode()))
    assert main(train_args(graph, edited, '--resume')) == 2
    assert f'{edited / "metrics.jsonl"}, line 2' in one_error_line(capsys)


def test_control_study_writes_a_png_and_prints_its_path(run, tmp_path, capsys):
    assert main(['control-study', '--run', str(run), '--attribute', 'price', '-k', '3',
                 '--out', str(tmp_path / 'x.txt')]) == 2
    assert "--out: expected a .png path (got" in one_error_line(capsys)
    assert main(['control-study', '--run', str(run), '--attribute', 'price', '-k', '3',
                 '--out', str(tmp_path / 'plot')]) == 0
    printed = capsys.readouterr().out.strip().splitlines()[-1]
    assert printed == f'plot: {tmp_path / "plot.png"}' and (tmp_path / 'plot.png').is_file()


@pytest.mark.parametrize('argv, words', [
    (['control-study', '--attribute', 'price', '--num-users', '-5'], ['--num-users', "'-5'"]),
    (['control-study', '--attribute', 'price', '-k', '0'], ['-k', "'0'"]),
    (['control-study', '--attribute', 'price', '-k', '11'], ['number of items (10)', '11']),
    (['recommend', '--user', 'U0', '-k', '-1'], ['-k', "'-1'"]),
    (['report', '--max-points', '0'], ['--max-points', '[10, 100000]', "'0'"]),
    (['report', '--seed', '-1'], ['--seed', "'-1'"]),
])
def test_explanation_sizes_are_bounded(run, capsys, argv, words):
    assert main([argv[0], '--run', str(run), *argv[1:]]) == 2
    line = one_error_line(capsys)
    assert all(word in line for word in words), line


# ------------------------------------------------------ one error path for both commands
def test_argument_errors_are_one_line_saying_where_the_help_is(capsys):
    assert main(['evaluate']) == 2
    assert one_error_line(capsys) == ('error: the following arguments are required: --run '
                                      '(see addrl evaluate --help)')
    assert main(['bogus']) == 2
    assert "invalid choice: 'bogus'" in one_error_line(capsys)


def _raising(error):
    def fake(*args, **kwargs):
        raise error
    return fake


def test_addrl_exit_statuses(graph, tmp_path, capsys, monkeypatch):
    out = tmp_path / 'run'
    monkeypatch.setattr(train_module, 'train', _raising(KeyboardInterrupt()))
    assert main(train_args(graph, out)) == 130
    assert capsys.readouterr().err == 'interrupted\n'
    denied = PermissionError(errno.EACCES, 'Permission denied', str(out / 'config.json'))
    monkeypatch.setattr(train_module, 'train', _raising(denied))
    assert main(train_args(graph, out)) == 2
    assert f'--out {out}: Permission denied ({out / "config.json"})' in one_error_line(capsys)
    full = OSError(errno.ENOSPC, 'No space left on device')
    monkeypatch.setattr(train_module, 'train', _raising(full))
    assert main(train_args(graph, out)) == 2
    assert 'No space left on device' in one_error_line(capsys)
    elsewhere = PermissionError(errno.EACCES, 'Permission denied', '/usr/lib/some.so')
    monkeypatch.setattr(train_module, 'train', _raising(elsewhere))
    with pytest.raises(PermissionError):                  # not a path the user gave: internal
        main(train_args(graph, out))
    monkeypatch.setattr(train_module, 'train', _raising(RuntimeError('a bug')))
    with pytest.raises(RuntimeError, match='a bug'):
        main(train_args(graph, out))


def test_data_builders_exit_statuses(tmp_path, capsys, monkeypatch):
    out = tmp_path / 'raw'
    argv = ['synthetic', '--out', str(out)]
    monkeypatch.setattr(data_builders.synthetic, 'generate', _raising(KeyboardInterrupt()))
    assert build_main(argv) == 130
    assert capsys.readouterr().err == 'interrupted\n'
    denied = PermissionError(errno.EACCES, 'Permission denied', str(out / 'reviews.json'))
    monkeypatch.setattr(data_builders.synthetic, 'generate', _raising(denied))
    assert build_main(argv) == 2
    assert f'--out {out}: Permission denied' in one_error_line(capsys)
    monkeypatch.setattr(data_builders.synthetic, 'generate', _raising(RuntimeError('a bug')))
    with pytest.raises(RuntimeError, match='a bug'):
        build_main(argv)
