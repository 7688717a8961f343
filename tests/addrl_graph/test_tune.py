"""Hyper-parameter search: trials finish, a killed study resumes, workers share one study."""
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from addrl_graph.nn.registry import MODEL_NAMES
from addrl_graph.nn.config import ModelConfig
from addrl_graph.errors import ConfigError
from addrl_graph.training.config import TrainConfig
from addrl_graph.training.tune import apply_params, load_space, tune

#: A small space over cheap settings so that a trial on the tiny graph takes about a second.
SPACE = {'lr': {'type': 'float', 'low': 1e-3, 'high': 3e-2, 'log': True},
         'alpha': {'type': 'float', 'low': 0.1, 'high': 5.0},
         'id_encoder': {'type': 'categorical', 'choices': ['embedding', 'lightgcn']},
         'encoder_layers': {'type': 'int', 'low': 1, 'high': 2,
                            'when': {'id_encoder': ['lightgcn']}}}
BUDGET = dict(epochs=2, patience=2, batch_size=16, num_neg=2, eval_batch_size=16)
#: One study worker in its own process: graph, output folder and space file from argv.
_TUNE = ('import sys\nfrom addrl_graph.training.tune import tune\nfrom addrl_graph.training.config import '
         'TrainConfig\ntune(sys.argv[1], sys.argv[2], TrainConfig(**{budget!r}), '
         'trials={trials}, space=sys.argv[3], progress=False, heartbeat_s=1, grace_s=2)\n')


@pytest.fixture
def graph_dir(tmp_path, tiny_graph):
    from addrl_graph.data.schema import save_graph
    data, meta = tiny_graph
    save_graph(tmp_path / 'graph', data, dict(meta))
    return tmp_path / 'graph'


@pytest.fixture
def space_file(tmp_path):
    path = tmp_path / 'space.yaml'
    path.write_text(yaml.safe_dump(SPACE))
    return path


def _study(out: Path):
    import optuna
    return optuna.load_study(study_name='addrl-graph-addrl',
                             storage=f'sqlite:///{(out / "study.db").resolve()}')


def _finished(out: Path) -> dict[int, dict]:
    import optuna
    trials = _study(out).get_trials(states=(optuna.trial.TrialState.COMPLETE,
                                            optuna.trial.TrialState.PRUNED))
    return {t.number: t.params for t in trials}


def test_three_trials_finish_and_the_best_config_reloads(graph_dir, space_file, tmp_path,
                                                         one_thread):
    out = tmp_path / 'study'
    summary = tune(graph_dir, out, TrainConfig(seed=3, **BUDGET), trials=3, space=space_file,
                   progress=False)
    assert len(_finished(out)) == 3
    assert len(summary.table.splitlines()) == 4  # header + 3 trials
    assert summary.trials_csv.is_file() and summary.history_plot.stat().st_size > 1000
    best = yaml.safe_load(summary.best_config.read_text())
    study = _study(out)
    assert best['lr'] == pytest.approx(study.best_params['lr'])
    assert best['alpha'] == pytest.approx(study.best_params['alpha'])
    assert summary.best_value == pytest.approx(study.best_value)
    # the best trial's run never read the test split
    results = json.loads((Path(study.best_trial.user_attrs['run']) / 'results.json').read_text())
    assert 'test' not in results and results['valid']['recall@20'] == summary.best_value
    # the file holds a whole, valid configuration (the constructors validate)
    baseline = best.pop('baseline')
    train_fields = set(TrainConfig.__dataclass_fields__) - {'baseline'}
    TrainConfig(**{k: best[k] for k in train_fields}, baseline=baseline)
    ModelConfig.from_dict({k: v for k, v in best.items() if k not in train_fields})


def test_killed_study_resumes_without_repeating_finished_trials(graph_dir, space_file,
                                                               tmp_path):
    out = tmp_path / 'study'
    env = dict(os.environ, OMP_NUM_THREADS='1')
    command = [sys.executable, '-c', _TUNE.format(budget=BUDGET, trials=8), str(graph_dir),
               str(out), str(space_file)]
    first = subprocess.Popen(command, env=env)
    deadline = time.monotonic() + 300
    # poll the run folders, not the database, which the worker may be creating
    while (len(list(out.glob('trials/*/results.json'))) < 3 and first.poll() is None
           and time.monotonic() < deadline):
        time.sleep(0.05)
    first.kill()
    first.wait()
    before = _finished(out)
    # the third trial may have written its run but not yet its state
    assert 2 <= len(before) < 8, 'the study should be killed part-way'
    stamps = {n: (out / 'trials' / f'{n:04d}' / 'results.json').stat().st_mtime_ns
              for n in before if (out / 'trials' / f'{n:04d}' / 'results.json').is_file()}
    time.sleep(2.5)  # past the grace period: the killed trial is taken for dead
    subprocess.run(command, env=env, check=True, timeout=300)
    after = _finished(out)
    assert len(after) == 8
    assert all(after[n] == params for n, params in before.items())  # kept, not redone
    for n, stamp in stamps.items():
        assert (out / 'trials' / f'{n:04d}' / 'results.json').stat().st_mtime_ns == stamp
    # the restarted sampler draws new points rather than replaying the first run's
    new = [tuple(sorted(p.items())) for n, p in after.items() if n not in before]
    assert not set(new) & {tuple(sorted(p.items())) for p in before.values()}


def test_two_worker_processes_run_disjoint_trials_of_one_study(graph_dir, space_file,
                                                               tmp_path):
    out = tmp_path / 'study'
    budget = dict(BUDGET, epochs=4, patience=4)
    env = dict(os.environ, OMP_NUM_THREADS='1')
    command = [sys.executable, '-c', _TUNE.format(budget=budget, trials=10), str(graph_dir),
               str(out), str(space_file)]
    workers = [subprocess.Popen(command, env=env) for _ in range(2)]
    assert [w.wait(timeout=300) for w in workers] == [0, 0]
    import optuna
    trials = _study(out).get_trials(states=(optuna.trial.TrialState.COMPLETE,
                                            optuna.trial.TrialState.PRUNED))
    assert 10 <= len(trials) <= 11  # a worker may finish the trial it started as the other ends
    by_worker: dict[int, set[int]] = {}
    for t in trials:
        by_worker.setdefault(t.user_attrs['worker_pid'], set()).add(t.number)
    assert sorted(by_worker) == sorted(w.pid for w in workers), 'both should have run trials'
    first, second = by_worker.values()
    assert not first & second
    runs = [t.user_attrs['run'] for t in trials]
    assert len(set(runs)) == len(runs)
    for t in trials:  # every run folder holds its own trial's parameters
        config = json.loads((Path(t.user_attrs['run']) / 'config.json').read_text())
        assert config['train']['lr'] == pytest.approx(t.params['lr'])


def test_space_files_and_params_are_checked(tmp_path):
    with pytest.raises(ConfigError, match='no_such_field'):
        load_space('addrl', _write(tmp_path, {'no_such_field': {'type': 'float', 'low': 0,
                                                               'high': 1}}))
    with pytest.raises(ConfigError, match="'lr' needs"):
        load_space('addrl', _write(tmp_path, {'lr': {'type': 'float', 'low': 1e-3}}))
    with pytest.raises(ConfigError, match='alpha'):
        load_space('bpr-mf', _write(tmp_path, {'alpha': {'type': 'float', 'low': 0, 'high': 1}}))
    train_config, model_config = apply_params(
        {'lr': 0.02, 'alpha': 1.5, 'baseline.l2': 1e-3}, TrainConfig(epochs=3), ModelConfig())
    assert (train_config.lr, train_config.epochs, model_config.alpha,
            train_config.baseline.l2) == (0.02, 3, 1.5, 1e-3)


@pytest.mark.parametrize('model', MODEL_NAMES)
def test_every_model_has_a_built_in_space_whose_extremes_are_valid(model):
    space = load_space(model)
    for end in ('low', 'high'):
        params = {name: (spec['choices'][0 if end == 'low' else -1]
                         if spec['type'] == 'categorical' else spec[end])
                  for name, spec in space.items() if 'when' not in spec}
        train_config, _ = apply_params(params, TrainConfig(model=model), ModelConfig())
        assert train_config.resolved().model == model


def _write(tmp_path: Path, space: dict) -> Path:
    path = tmp_path / 'space.yaml'
    path.write_text(yaml.safe_dump(space))
    return path
