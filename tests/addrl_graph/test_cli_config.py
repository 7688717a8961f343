"""Flags and config files of ``train``, ``compare`` and ``tune`` (:mod:`addrl_graph.cli.config`);
nothing here trains."""
import sys
import types

import pytest

from addrl_graph.cli.commands import main
from addrl_graph.cli.config import parse, to_yaml
from addrl_graph.nn.config import BaselineConfig, ModelConfig
from addrl_graph.nn.registry import MODEL_DEFAULTS
from addrl_graph.training.config import TrainConfig


@pytest.fixture
def folders(tmp_path):
    return ['--data', str(tmp_path / 'graph'), '--out', str(tmp_path / 'run')]


def test_print_config_round_trips(tmp_path, folders, capsys):
    flags = [*folders, '--model', 'lightgcn', '--num-neighbors', '10,5', '--id-encoder', 'gcn',
             '--layer-weights', '0.5,0.25,0.25', '--ablation', 'no-inter', '--baseline.l2',
             '0.01', '--chunk-norm', 'true', '--d_chunk', '8', '--encoder-layers', '2']
    assert main(['--quiet', 'train', *flags, '--print-config']) == 0
    printed = capsys.readouterr().out
    defaults = MODEL_DEFAULTS['lightgcn']
    assert f"lr: {defaults['lr']}" in printed
    assert f"num_layers: {defaults['baseline']['num_layers']}" in printed
    path = tmp_path / 'config.yaml'
    path.write_text(printed)
    first, again = parse('train', flags), parse('train', ['--config', str(path)])
    assert again.train_config == first.train_config.resolved()
    assert again.train_config.num_neighbors == [10, 5]
    assert again.train_config.baseline == BaselineConfig(
        embedding_dim=defaults['baseline']['embedding_dim'], l2=0.01,
        num_layers=defaults['baseline']['num_layers'])
    assert again.model_config == first.model_config == ModelConfig(
        id_encoder='gcn', layer_weights=[0.5, 0.25, 0.25], ablation='no-inter', chunk_norm=True,
        d_chunk=8, encoder_layers=2)
    assert again.options == first.options and to_yaml(again) == printed


def test_flags_override_the_file_wherever_they_stand(tmp_path, folders):
    path = tmp_path / 'config.yaml'
    path.write_text('model: addrl\nlr: 0.003\nbpr_reduction: sum\nid_encoder: lightgcn\n'
                    f'baseline: {{l2: 0.0001}}\ndata: {tmp_path / "elsewhere"}\n')
    command = parse('train', ['--lr', '0.1', *folders, '--config', str(path),
                              '--id_encoder', 'gcn'])
    assert command.train_config.lr == 0.1 and command.train_config.baseline.l2 == 1e-4
    assert command.model_config.bpr_reduction == 'sum' and command.model_config.id_encoder == 'gcn'
    assert command.options['data'] == tmp_path / 'graph'


def test_json_file_and_both_spellings(tmp_path, folders):
    path = tmp_path / 'config.json'
    path.write_text('{"num_neg": 4, "baseline": {"embedding_dim": 16}}')
    dashed = parse('train', [*folders, f'--config={path}', '--d-chunk', '8', '--num-neg', '2'])
    underscored = parse('train', [*folders, '--config', str(path), '--d_chunk', '8',
                                  '--num_neg', '2'])
    assert dashed == underscored
    assert dashed.train_config.num_neg == 2 and dashed.train_config.baseline.embedding_dim == 16


@pytest.mark.parametrize('text, message', [
    ('lr: 0.01\nlearning_rate: 0.1\n', "'learning_rate' is not accepted"),
    ('baseline: {depth: 2}\n', "'baseline.depth' is not accepted"),
    ('lr: fast\n', "lr: expected float | None (got 'fast')"),
    ('chunk_norm: maybe\n', "--chunk-norm: expected bool (got 'maybe')"),
    ('d_chunk: 0\n', 'd_chunk must be an int in [1, 1024] (got 0)'),  # ModelConfig's constructor
    ('baseline: {l2: -1}\n', 'baseline config l2 must be None or a finite number >= 0'),
])
def test_bad_file_exits_2_naming_the_key(tmp_path, folders, capsys, text, message):
    path = tmp_path / 'config.yaml'
    path.write_text(text)
    assert main(['--quiet', 'train', *folders, '--config', str(path)]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count('\n') == 1 and 'Traceback' not in err


@pytest.mark.parametrize('flags, message', [
    (['--alpha', 'big'], "alpha: expected float (got 'big')"),
    (['--ablation', 'no-attention'], "ablation: expected"),
    (['--embedding-dim', '32'], 'unrecognized arguments: --embedding-dim 32'),
])
def test_bad_flag_exits_2_naming_the_key(folders, capsys, flags, message):
    assert main(['--quiet', 'train', *folders, *flags]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count('\n') == 1


def test_help_shows_the_docstrings(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(['train', '--help'])
    assert exit_.value.code == 0
    shown = ' '.join(capsys.readouterr().out.split())
    assert 'negatives per positive' in shown  # TrainConfig.num_neg
    assert 'temperature \\tau of Eq. 6' in shown  # ModelConfig.tau, reST roles dropped
    assert '--baseline.embedding-dim, --baseline.embedding_dim' in shown
    assert 'width of the user and item embeddings' in shown


def test_compare_takes_no_model(folders, capsys):
    command = parse('compare', [*folders, '--baseline.l2', '0.001'])
    assert command.train_config.baseline.l2 == 1e-3
    assert 'model:' not in to_yaml(command) and 'lr: null' in to_yaml(command)
    assert main(['--quiet', 'compare', *folders, '--model', 'vbpr']) == 2
    assert 'unrecognized arguments: --model vbpr' in capsys.readouterr().err


def test_tune_passes_study_and_trial_budgets(tmp_path, folders, monkeypatch, capsys):
    calls = []

    def tune(data_dir, out_dir, train_config, model_config, **kwargs):
        calls.append((data_dir, out_dir, train_config, model_config, kwargs))
        return types.SimpleNamespace(table='TRIALS', best_config=out_dir / 'best.yaml')

    monkeypatch.setitem(sys.modules, 'addrl_graph.training.tune', types.SimpleNamespace(tune=tune))
    assert main(['--quiet', 'tune', *folders, '--model', 'vbpr', '--trials', '3',
                 '--max-minutes', '30', '--trial-max-minutes', '2', '--seed', '7',
                 '--alpha', '1']) == 0
    [(data_dir, out_dir, train_config, model_config, kwargs)] = calls
    assert data_dir == tmp_path / 'graph' and out_dir == tmp_path / 'run'
    assert train_config == TrainConfig(model='vbpr', max_minutes=2.0, seed=7)
    assert model_config == ModelConfig(alpha=1.0)
    assert kwargs == dict(trials=3, space=None, max_minutes=30.0, storage=None, workers=1,
                          progress=False)
    assert capsys.readouterr().out == f'TRIALS\nbest configuration: {out_dir / "best.yaml"} ' \
                                      '(train --config reads it)\n'
