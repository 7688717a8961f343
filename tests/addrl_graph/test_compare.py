"""Comparisons over seeds with paired tests (issue 13, items 1 and 2)."""
import dataclasses
import json

import numpy as np
import pytest
import scipy.stats
import yaml

from addrl_graph.cli import main
from addrl_graph.errors import CheckpointError, ConfigError
from addrl_graph.io import load_tensors
from addrl_graph.metrics.per_user import UserMetrics
from addrl_graph.nn.config import ABLATIONS, ModelConfig
from addrl_graph.testing import paper_config, save_tiny_graph
from addrl_graph.training import compare as compare_module
from addrl_graph.training.compare import comparison_entries
from addrl_graph.training.compare_report import summarize
from addrl_graph.training.train import TrainConfig


@pytest.fixture(scope='module')
def graph(tmp_path_factory):
    return save_tiny_graph(tmp_path_factory.mktemp('graph') / 'g', num_users=30, num_items=20,
                           per_user=6)


def test_compare_over_two_seeds_gives_mean_std_and_p_values(graph, tmp_path, capsys):
    out = tmp_path / 'cmp'
    assert main(['--quiet', 'compare', '--data', str(graph), '--out', str(out), '--epochs', '2',
                 '--batch-size', '16', '--d-chunk', '4', '--models', 'addrl,bpr-mf',
                 '--seeds', '0,1']) == 0
    printed = capsys.readouterr().out
    summary = json.loads((out / 'compare.json').read_text())
    assert summary['seeds'] == [0, 1] and [r['name'] for r in summary['rows']] == ['addrl',
                                                                                    'bpr-mf']
    runs = [json.loads((out / 'bpr-mf' / f'seed-{s}' / 'results.json').read_text())
            for s in (0, 1)]
    recalls = [r['test']['recall@20'] for r in runs]
    mean, std = summary['rows'][1]['test']['recall@20']
    assert mean == pytest.approx(np.mean(recalls)) and std == pytest.approx(np.std(recalls,
                                                                                  ddof=1))
    # the p-values are scipy's on the users' Recall@20, each user averaged over the seeds
    per_user = {name: np.mean([UserMetrics.from_dict(load_tensors(
        out / name / f'seed-{s}' / 'test_per_user.pt', CheckpointError))['ndcg@20'].numpy()
        for s in (0, 1)], axis=0) for name in ('addrl', 'bpr-mf')}
    paired = summary['rows'][1]['paired']['ndcg@20']
    assert paired['t']['p_value'] == pytest.approx(
        scipy.stats.ttest_rel(per_user['addrl'], per_user['bpr-mf']).pvalue)
    assert paired['wilcoxon']['p_value'] == pytest.approx(
        scipy.stats.wilcoxon(per_user['addrl'], per_user['bpr-mf']).pvalue)
    assert 'paired' not in summary['rows'][0]
    assert '| bpr-mf |' in printed and ' ± ' in printed
    assert '| bpr-mf |' in (out / 'compare.md').read_text()
    # per seed: the best epoch of the epochs run (both runs ran their 2 epochs)
    assert summary['rows'][1]['epochs_run'] == [r['epochs_run'] for r in runs] == [2, 2]
    bests = ', '.join(f"{r['best_epoch']} / 2" for r in runs)
    assert f'| {bests} |' in printed


def test_a_rerun_trains_nothing_and_gives_the_same_table(graph, tmp_path, monkeypatch):
    budget = TrainConfig(epochs=2, batch_size=16)
    first = compare_module.compare(graph, tmp_path / 'cmp', budget, paper_config(d_chunk=4),
                                   models=('addrl', 'lightgcn'), seeds=(0, 1), progress=False)
    monkeypatch.setattr(compare_module, 'train', lambda *a, **k: pytest.fail('trained again'))
    again = compare_module.compare(graph, tmp_path / 'cmp', budget, paper_config(d_chunk=4),
                                   models=('addrl', 'lightgcn'), seeds=(0, 1), progress=False)
    assert again == first == summarize(tmp_path / 'cmp', ['addrl', 'lightgcn'], (0, 1), 'addrl')


def test_a_rerun_with_another_configuration_is_refused(graph, tmp_path):
    budget = TrainConfig(epochs=2, batch_size=16)
    compare_module.compare(graph, tmp_path / 'cmp', budget, paper_config(d_chunk=4),
                           models=('bpr-mf',), progress=False)
    (tmp_path / 'configs').mkdir()
    (tmp_path / 'configs' / 'bpr-mf.yaml').write_text(yaml.safe_dump({'lr': 0.05}))
    with pytest.raises(ConfigError, match='holds a finished run of another configuration '
                                          r'\(train.lr: checkpoint 0.011, now 0.05\)'):
        compare_module.compare(graph, tmp_path / 'cmp', budget, paper_config(d_chunk=4),
                               models=('bpr-mf',), configs=tmp_path / 'configs',
                               progress=False)


def test_ablations_follow_the_models_and_test_against_the_full_model():
    entries = comparison_entries(TrainConfig(), ModelConfig(), models=('addrl', 'bpr-mf'),
                                 ablations=True)
    assert [e.name for e in entries] == ['addrl', 'bpr-mf', *(f'addrl-{a}' for a in ABLATIONS)]
    assert [e.model_config.ablation for e in entries[2:]] == list(ABLATIONS)
    assert all(e.train_config.model == 'addrl' for e in entries[2:])


def test_configs_give_each_model_its_tuned_fields_but_not_the_budget(tmp_path):
    (tmp_path / 'bpr-mf.yaml').write_text(yaml.safe_dump(
        {'lr': 0.02, 'num_neg': 4, 'epochs': 999, 'baseline': {'l2': 0.5}}))
    (tmp_path / 'addrl.yaml').write_text(yaml.safe_dump({'d_chunk': 8, 'alpha': 0.5}))
    budget = TrainConfig(epochs=3, patience=2)
    entries = {e.name: e for e in comparison_entries(budget, ModelConfig(),
                                                     models=('addrl', 'bpr-mf', 'lightgcn'),
                                                     configs=tmp_path)}
    bpr = entries['bpr-mf'].train_config
    assert (bpr.lr, bpr.num_neg, bpr.baseline.l2, bpr.epochs, bpr.patience) == (0.02, 4, 0.5,
                                                                                 3, 2)
    assert (entries['addrl'].model_config.d_chunk, entries['addrl'].model_config.alpha) == (8, 0.5)
    assert entries['lightgcn'].train_config == dataclasses.replace(budget, model='lightgcn')
    (tmp_path / 'vbpr.yaml').write_text(yaml.safe_dump({'lr': 0.01, 'learning_rate': 1}))
    with pytest.raises(ConfigError, match=r"unknown configuration keys \['learning_rate'\]"):
        comparison_entries(budget, ModelConfig(), models=('vbpr',), configs=tmp_path)


@pytest.mark.parametrize('flags, message', [
    (['--models', 'addrl,nope'], 'models must be names of'),
    (['--seeds', '0,0'], 'seeds must be distinct'),
    (['--workers', '0'], 'workers must be an int >= 1'),
])
def test_bad_comparison_options_are_one_line(graph, tmp_path, capsys, flags, message):
    assert main(['--quiet', 'compare', '--data', str(graph), '--out', str(tmp_path / 'o'),
                 *flags]) == 2
    assert message in capsys.readouterr().err
