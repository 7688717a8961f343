"""Hyper-parameter search on validation Recall@20: ``python -m addrl_graph tune``.

Optuna does the searching: the TPE sampler (seeded), the median pruner fed with every epoch's
validation Recall@20, the relational storage that lets a killed study resume and lets worker
processes, on one machine or several, share one study, and the optimisation-history plot. What
this module adds is what Optuna cannot know: the built-in search space of each model
(:data:`SPACES`, or a YAML/JSON file of the same shape), how a trial's parameters land on
:class:`~addrl_graph.training.train.TrainConfig`, :class:`~addrl_graph.nn.config.ModelConfig` and
:class:`~addrl_graph.nn.config.BaselineConfig`, one training run folder per trial, and the outputs:
``trials.csv``, ``history.png`` and ``best.yaml`` (the best trial's whole configuration in the
format of :func:`addrl_graph.training.config.config_file_dict`, a file ``train --config`` reads).

Trials never read the test split (:func:`~addrl_graph.training.train.train` with ``test=False``).

Storage: ``sqlite:///OUT/study.db`` unless ``storage`` names another Optuna RDB URL. Several
machines share a study through a server database, e.g. PostgreSQL:
``--storage postgresql://user:pass@host/db`` on every machine (each with its own ``--out`` for
its run folders). A trial whose process died is marked failed once its heartbeat is older than
the grace period, and does not count towards ``trials``.
"""
from __future__ import annotations

import contextlib
import dataclasses
import logging
import multiprocessing
import os
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import yaml

from addrl_graph.nn.config import BaselineConfig, ModelConfig
from addrl_graph.errors import ConfigError
from addrl_graph.io import atomic_write_bytes, read_json
from addrl_graph.training.config import config_file_dict
from addrl_graph.training.train import SELECTION_METRIC, TrainConfig, train

log = logging.getLogger(__name__)

Space = dict[str, dict[str, Any]]
_GRAPH_ENCODERS = ['lightgcn', 'gcn', 'sage']
_LR = {'type': 'float', 'low': 3e-4, 'high': 3e-2, 'log': True}
_BASELINE_SPACE: Space = {
    'lr': _LR,
    'num_neg': {'type': 'categorical', 'choices': [1, 4, 8]},
    'baseline.l2': {'type': 'float', 'low': 1e-6, 'high': 1e-1, 'log': True},
    'baseline.embedding_dim': {'type': 'categorical', 'choices': [32, 64, 128]},
}

#: Built-in search space per model. Each entry names a field (``baseline.<field>`` for
#: :class:`~addrl_graph.nn.config.BaselineConfig`) and an Optuna distribution: ``float`` / ``int``
#: with ``low``, ``high`` and optional ``log``, or ``categorical`` with ``choices``. ``when``
#: samples the parameter only if another parameter took one of the listed values.
SPACES: dict[str, Space] = {
    'addrl': {
        'lr': _LR,
        'bpr_reduction': {'type': 'categorical', 'choices': ['sum', 'mean']},
        'alpha': {'type': 'float', 'low': 1e-2, 'high': 10.0, 'log': True},
        'beta': {'type': 'float', 'low': 1e-3, 'high': 1.0, 'log': True},
        'gamma': {'type': 'float', 'low': 1e-2, 'high': 10.0, 'log': True},
        'l2': {'type': 'float', 'low': 1e-3, 'high': 1.0, 'log': True},
        'num_neg': {'type': 'categorical', 'choices': [1, 4, 8, 16]},
        'd_chunk': {'type': 'categorical', 'choices': [16, 32, 64]},
        'free_chunks': {'type': 'int', 'low': 0, 'high': 2},
        'id_encoder': {'type': 'categorical', 'choices': ['embedding', *_GRAPH_ENCODERS]},
        'encoder_layers': {'type': 'int', 'low': 1, 'high': 3,
                           'when': {'id_encoder': _GRAPH_ENCODERS}},
        'attribute_aware': {'type': 'categorical', 'choices': [False, True],
                            'when': {'id_encoder': ['gcn', 'sage']}},
    },
    'bpr-mf': dict(_BASELINE_SPACE),
    'lightgcn': {**_BASELINE_SPACE,
                 'baseline.num_layers': {'type': 'int', 'low': 1, 'high': 4}},
    'vbpr': dict(_BASELINE_SPACE),
    'dmrl': {**_BASELINE_SPACE,
             'baseline.num_factors': {'type': 'categorical', 'choices': [2, 4, 8]},
             'baseline.cor_weight': {'type': 'float', 'low': 1e-4, 'high': 1e-1, 'log': True}},
    'dgcf': {**_BASELINE_SPACE,
             'baseline.num_factors': {'type': 'categorical', 'choices': [2, 4, 8]},
             'baseline.num_layers': {'type': 'int', 'low': 1, 'high': 2},
             'baseline.cor_weight': {'type': 'float', 'low': 1e-3, 'high': 1e-1, 'log': True}},
    'freedom': {**_BASELINE_SPACE,
                'baseline.knn_k': {'type': 'categorical', 'choices': [5, 10, 20]},
                'baseline.edge_dropout': {'type': 'categorical', 'choices': [0.0, 0.5, 0.8]},
                'baseline.image_weight': {'type': 'float', 'low': 0.0, 'high': 1.0}},
}

_TRAIN_FIELDS = {f.name for f in fields(TrainConfig)} - {'baseline', 'model'}
_MODEL_FIELDS = {f.name for f in fields(ModelConfig)}
_BASELINE_FIELDS = {f'baseline.{f.name}' for f in fields(BaselineConfig)}


@dataclass
class TuneSummary:
    """What :func:`tune` leaves in its output folder.

    Attributes:
        table: the trials, one line each (number, state, validation Recall@20, parameters).
        best_config: ``best.yaml``, the best trial's configuration.
        best_value: the best trial's validation Recall@20.
        best_trial: the best trial's number.
        trials_csv / history_plot: ``trials.csv`` and ``history.png``.
    """
    table: str
    best_config: Path
    best_value: float
    best_trial: int
    trials_csv: Path
    history_plot: Path


def load_space(model: str, path: str | Path | None = None) -> Space:
    """The search space: the built-in one of ``model``, or the file at ``path`` (YAML or
    JSON, same shape as :data:`SPACES` entries), checked."""
    if path is None:
        if model not in SPACES:
            raise ConfigError(f'--model {model} has no built-in search space: pass --space FILE '
                              f'(models with one: {sorted(SPACES)})')
        space = SPACES[model]
    else:
        try:
            space = yaml.safe_load(Path(path).read_text())
        except (OSError, yaml.YAMLError) as e:
            raise ConfigError(f'cannot read search space {path}: {e}') from None
    _check_space(space, model)
    return space


def _check_space(space: Any, model: str) -> None:
    if not isinstance(space, dict) or not space:
        raise ConfigError(f'a search space is a non-empty mapping of field names (got {space!r})')
    known = _TRAIN_FIELDS | _BASELINE_FIELDS | (_MODEL_FIELDS if model == 'addrl' else set())
    for name, spec in space.items():
        if name not in known:
            raise ConfigError(f'search space: {name!r} is not a field --model {model} reads '
                              f'(known: {sorted(known)})')
        kind = spec.get('type') if isinstance(spec, dict) else None
        needs = {'float': ('low', 'high'), 'int': ('low', 'high'),
                 'categorical': ('choices',)}.get(kind)
        if needs is None or any(key not in spec for key in needs):
            raise ConfigError(f'search space: {name!r} needs type float/int with low and high, '
                              f'or type categorical with choices (got {spec!r})')
        for other in spec.get('when', {}):
            if other not in space:
                raise ConfigError(f'search space: {name!r} depends on {other!r}, '
                                  'which the space does not sample')


def sample(trial, space: Space) -> dict[str, Any]:
    """Draw one value per parameter of ``space`` whose ``when`` condition holds."""
    params: dict[str, Any] = {}
    for name, spec in space.items():
        if any(params.get(other) not in allowed for other, allowed in spec.get('when', {}).items()):
            continue
        if spec['type'] == 'float':
            params[name] = trial.suggest_float(name, spec['low'], spec['high'],
                                               log=spec.get('log', False))
        elif spec['type'] == 'int':
            params[name] = trial.suggest_int(name, spec['low'], spec['high'],
                                             log=spec.get('log', False))
        else:
            params[name] = trial.suggest_categorical(name, spec['choices'])
    return params


def apply_params(params: dict[str, Any], train_config: TrainConfig,
                 model_config: ModelConfig) -> tuple[TrainConfig, ModelConfig]:
    """Configs with ``params`` (field names, ``baseline.<field>``) set over the given ones."""
    train_values = {k: v for k, v in params.items() if k in _TRAIN_FIELDS}
    baseline = {k.split('.', 1)[1]: v for k, v in params.items() if k in _BASELINE_FIELDS}
    model_values = {k: v for k, v in params.items() if k in _MODEL_FIELDS}
    train_out = dataclasses.replace(
        train_config, **train_values,
        baseline=dataclasses.replace(train_config.baseline, **baseline))
    return train_out, dataclasses.replace(model_config, **model_values)


def _objective(trial, data_dir: Path, out_dir: Path, space: Space, train_config: TrainConfig,
               model_config: ModelConfig) -> float:
    import optuna

    trial_train, trial_model = apply_params(sample(trial, space), train_config, model_config)
    run_dir = out_dir / 'trials' / f'{trial.number:04d}'
    trial.set_user_attr('run', str(run_dir))
    trial.set_user_attr('worker_pid', os.getpid())

    def report(epoch: int, row: dict[str, Any]) -> None:
        trial.report(row[f'valid_{SELECTION_METRIC}'], epoch)
        trial.set_user_attr('epochs_run', epoch + 1)
        if trial.should_prune():
            raise optuna.TrialPruned(f'epoch {epoch}: valid {SELECTION_METRIC} '
                                     f'{row[f"valid_{SELECTION_METRIC}"]:.4f}')

    results = train(data_dir, run_dir, trial_train, trial_model, progress=False,
                    on_epoch=report, test=False)
    trial.set_user_attr('best_epoch', results['best_epoch'])
    trial.set_user_attr('valid_ndcg@20', results['valid']['ndcg@20'])
    trial.set_user_attr('seconds_per_epoch', results['seconds_per_epoch'])
    return results['valid'][SELECTION_METRIC]


def _finished_states():
    import optuna
    return (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)


def _storage_url(out_dir: Path, storage: str | None) -> str:
    return storage or f'sqlite:///{(out_dir / "study.db").resolve()}'


def _open_study(out_dir: Path, storage: str | None, model: str, seed: int, worker: int,
                heartbeat_s: int, grace_s: int):
    import optuna
    from filelock import FileLock

    url = _storage_url(out_dir, storage)
    sqlite = url.startswith('sqlite')
    # processes opening one new SQLite file at once would each create its tables
    with FileLock(out_dir / 'study.db.lock') if sqlite else contextlib.nullcontext():
        rdb = optuna.storages.RDBStorage(
            url, engine_kwargs={'connect_args': {'timeout': 60}} if sqlite else {},
            heartbeat_interval=heartbeat_s, grace_period=grace_s)
        name = f'addrl-graph-{model}'
        known = {s.study_name: s.n_trials for s in optuna.get_all_study_summaries(rdb)}
        # a restarted or extra worker draws new random points: the seed moves with the study
        sampler = optuna.samplers.TPESampler(seed=seed + 1000 * worker + known.get(name, 0),
                                             n_startup_trials=8, multivariate=True,
                                             group=True, constant_liar=True)
        pruner = optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=4)
        return optuna.create_study(study_name=name, storage=rdb, direction='maximize',
                                   sampler=sampler, pruner=pruner, load_if_exists=True)


def _work(data_dir: Path, out_dir: Path, space: Space, train_config: TrainConfig,
          model_config: ModelConfig, trials: int, timeout_s: float | None, storage: str | None,
          worker: int, threads: int, heartbeat_s: int, grace_s: int, bar=None) -> None:
    """One worker: run trials until the study holds ``trials`` finished ones or time is up."""
    import optuna
    import torch

    torch.set_num_threads(threads)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = _open_study(out_dir, storage, train_config.model, train_config.seed, worker,
                        heartbeat_s, grace_s)

    def finished() -> int:
        return len(study.get_trials(deepcopy=False, states=_finished_states()))

    def update_bar(study, trial) -> None:
        if bar is not None:
            bar.n = min(finished(), trials)
            bar.refresh()

    cap = optuna.study.MaxTrialsCallback(trials, states=_finished_states())
    if finished() < trials:
        study.optimize(lambda t: _objective(t, data_dir, out_dir, space, train_config,
                                            model_config),
                       timeout=timeout_s, callbacks=[cap, update_bar], catch=(ConfigError,),
                       gc_after_trial=True)


def tune(data_dir: str | Path, out_dir: str | Path, train_config: TrainConfig,
         model_config: ModelConfig | None = None, *, trials: int,
         space: str | Path | None = None, max_minutes: float | None = None,
         storage: str | None = None, workers: int = 1, progress: bool = True,
         heartbeat_s: int = 30, grace_s: int = 90) -> TuneSummary:
    """Search the hyper-parameters of ``train_config.model`` on ``data_dir``'s validation split.

    Every trial trains a run into ``out_dir/trials/<number>`` with the fields of
    ``train_config`` / ``model_config`` that the space does not sample, reports each epoch's
    validation Recall@20 to the pruner, and scores the best epoch's. Calling it again with the
    same ``out_dir`` (or ``storage``) resumes the study: finished trials are kept and count
    towards ``trials``.

    Args:
        trials: finished (complete or pruned) trials the study should hold.
        space: a search-space file; default :data:`SPACES` ``[model]``.
        max_minutes: wall-clock budget of this call (trials running at the end finish).
        storage: an Optuna RDB URL (default: SQLite in ``out_dir``).
        workers: processes started here, sharing the study (and this machine's cores).
        heartbeat_s / grace_s: a running trial's heartbeat period, and the silence after
            which it is taken for dead.
    """
    from tqdm.auto import tqdm

    model_config = model_config or ModelConfig()
    if not isinstance(trials, int) or trials < 1:
        raise ConfigError(f'--trials must be an int >= 1 (got {trials!r})')
    if not isinstance(workers, int) or workers < 1:
        raise ConfigError(f'--workers must be an int >= 1 (got {workers!r})')
    if max_minutes is not None and not max_minutes > 0:
        raise ConfigError(f'--max-minutes must be a number > 0 (got {max_minutes!r})')
    space_spec = load_space(train_config.model, space)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    data_dir = Path(data_dir)
    timeout_s = max_minutes * 60 if max_minutes is not None else None
    threads = max(1, (os.cpu_count() or 1) // workers)
    args = (data_dir, out_dir, space_spec, train_config, model_config, trials, timeout_s,
            storage)
    context = multiprocessing.get_context('spawn')
    helpers = [context.Process(target=_work, args=(*args, w, threads, heartbeat_s, grace_s))
               for w in range(1, workers)]
    for process in helpers:
        process.start()
    with tqdm(total=trials, desc=f'tune {train_config.model}', unit='trial',
              disable=not progress) as bar:
        _work(*args, 0, threads, heartbeat_s, grace_s, bar)
        for process in helpers:
            process.join()
    return summarize(out_dir, storage, train_config.model)


def summarize(out_dir: str | Path, storage: str | None, model: str) -> TuneSummary:
    """Write ``trials.csv``, ``history.png`` and ``best.yaml`` for the study in ``out_dir``."""
    import optuna
    from optuna.visualization.matplotlib import plot_optimization_history

    from addrl_graph.plotting import pyplot, save_figure

    out_dir = Path(out_dir)
    study = optuna.load_study(study_name=f'addrl-graph-{model}',
                              storage=_storage_url(out_dir, storage))
    completed = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    if not completed:
        raise ConfigError(f'the study in {out_dir} has no completed trial yet')
    frame = study.trials_dataframe()
    trials_csv = out_dir / 'trials.csv'
    atomic_write_bytes(trials_csv, frame.to_csv(index=False).encode())
    pyplot()
    history_plot = save_figure(plot_optimization_history(study).figure, out_dir / 'history.png')
    best = study.best_trial
    saved = read_json(Path(best.user_attrs['run']) / 'config.json', ConfigError)
    best_config = out_dir / 'best.yaml'
    resolved = config_file_dict(TrainConfig(**saved['train']),
                                ModelConfig.from_dict(saved['model']))
    header = (f'# best of {len(completed)} completed trials of study {study.study_name}: '
              f'trial {best.number}, validation {SELECTION_METRIC} {best.value:.4f}\n')
    atomic_write_bytes(best_config, (header + yaml.safe_dump(resolved, sort_keys=False)).encode())
    return TuneSummary(format_trials(study), best_config, float(best.value), best.number,
                       trials_csv, history_plot)


def format_trials(study) -> str:
    """One line per trial: number, state, validation Recall@20, best epoch, parameters."""
    lines = [f"{'trial':>5}  {'state':<8}  {'valid R@20':>10}  {'best ep':>7}  parameters"]
    for t in study.trials:
        value = f'{t.value:.4f}' if t.value is not None else '-'
        params = ', '.join(f'{k}={_short(v)}' for k, v in t.params.items())
        lines.append(f"{t.number:>5}  {t.state.name:<8}  {value:>10}  "
                     f"{t.user_attrs.get('best_epoch', '-')!s:>7}  {params}")
    return '\n'.join(lines)


def _short(value: Any) -> str:
    return f'{value:.3g}' if isinstance(value, float) else str(value)
