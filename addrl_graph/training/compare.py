"""Train several models (and AD-DRL's ablations) on one graph, once per seed, and tabulate them.

Each row of a comparison is an :class:`Entry`: a model of the registry at its tuned
configuration (the per-model defaults of :data:`~addrl_graph.nn.registry.MODEL_DEFAULTS`, or
the file ``<configs>/<model>.yaml`` that ``tune`` wrote as ``best.yaml``), or an ablation of
AD-DRL (:data:`~addrl_graph.nn.config.ABLATIONS`, Table 3 of the paper). Every entry is trained
once per seed into ``<out>/<entry>/seed-<s>``, chosen on validation Recall@20 and read once on
test by :func:`~addrl_graph.training.train.train`, which also saves the users' test metrics
(``test_per_user.pt``). A run folder that holds a finished run is not trained again, and an
interrupted one resumes, so rerunning a comparison recomputes its table without training.
:mod:`addrl_graph.training.compare_report` turns the run folders into the table (mean ± std
over seeds, paired tests against AD-DRL).
"""
from __future__ import annotations

import concurrent.futures
import dataclasses
import logging
import multiprocessing
from pathlib import Path
from typing import Any

import torch
import yaml

from addrl_graph.data.schema import load_graph
from addrl_graph.errors import ConfigError, GraphSchemaError
from addrl_graph.io import read_json
from addrl_graph.nn.config import ABLATIONS, BaselineConfig, ModelConfig
from addrl_graph.nn.registry import MODEL_NAMES
from addrl_graph.training.compare_report import summarize, write_report
from addrl_graph.training.config import run_config
from addrl_graph.training.runs import config_differences, read_run_config
from addrl_graph.training.train import PER_USER_FILE, TrainConfig, train
from addrl_graph.training.tune import apply_params

logger = logging.getLogger(__name__)
#: The run's budget: what a ``--configs`` file may not change (the comparison's own flags).
BUDGET_FIELDS = ('model', 'epochs', 'patience', 'max_minutes', 'seed', 'device',
                 'eval_batch_size', 'tensorboard')
REFERENCE = 'addrl'
_FILE_KEYS = {f.name for cls in (TrainConfig, ModelConfig) for f in dataclasses.fields(cls)}
_BASELINE_KEYS = {f.name for f in dataclasses.fields(BaselineConfig)}


@dataclasses.dataclass(frozen=True)
class Entry:
    """One row of a comparison.

    Attributes:
        name: the row's name and folder (``addrl``, ``lightgcn``, ``addrl-no-intra``).
        train_config / model_config: what every seed of it trains with (seed aside).
    """
    name: str
    train_config: TrainConfig
    model_config: ModelConfig


def comparison_entries(train_config: TrainConfig, model_config: ModelConfig,
                       models: tuple[str, ...] = MODEL_NAMES, ablations: bool = False,
                       configs: str | Path | None = None) -> list[Entry]:
    """The entries of a comparison of ``models`` (and, with ``ablations``, every ablation of
    AD-DRL after them), each at the configuration of ``<configs>/<model>.yaml`` if that file
    exists (its budget fields, :data:`BUDGET_FIELDS`, are the comparison's), else at
    ``train_config`` / ``model_config`` with the model's own defaults for the fields left
    :obj:`None`."""
    unknown = sorted(set(models) - set(MODEL_NAMES))
    if unknown or not models:
        raise ConfigError(f'models must be names of {list(MODEL_NAMES)} (got {list(models)})')
    entries = []
    for name in models:
        train_for, model_for = _tuned(name, train_config, model_config, configs)
        entries.append(Entry(name, train_for, model_for))
    if ablations:
        train_for, model_for = _tuned(REFERENCE, train_config, model_config, configs)
        entries += [Entry(f'{REFERENCE}-{ablation}', train_for,
                          dataclasses.replace(model_for, ablation=ablation))
                    for ablation in ABLATIONS]
    return entries


def _tuned(model: str, train_config: TrainConfig, model_config: ModelConfig,
           configs: str | Path | None) -> tuple[TrainConfig, ModelConfig]:
    budget = dataclasses.replace(train_config, model=model)
    path = Path(configs) / f'{model}.yaml' if configs is not None else None
    if path is None or not path.is_file():
        return budget, model_config
    try:
        values = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as e:
        raise ConfigError(f'{path} is not valid YAML ({e})') from None
    if not isinstance(values, dict):
        raise ConfigError(f'{path} must hold a mapping of configuration keys')
    baseline = values.get('baseline') or {}
    if not isinstance(baseline, dict):
        raise ConfigError(f'{path}: baseline must hold a mapping of BaselineConfig fields')
    unknown = sorted(set(values) - _FILE_KEYS) + sorted(
        f'baseline.{k}' for k in set(baseline) - _BASELINE_KEYS)
    if unknown:
        raise ConfigError(f'{path}: unknown configuration keys {unknown}')
    params = {k: v for k, v in values.items() if k not in (*BUDGET_FIELDS, 'baseline')}
    params.update({f'baseline.{k}': v for k, v in baseline.items()})
    tuned_train, tuned_model = apply_params(params, budget, model_config)
    logger.info('%s: configuration of %s', model, path)
    return tuned_train, tuned_model


def run_folder(out_dir: str | Path, entry: str, seed: int) -> Path:
    return Path(out_dir) / entry / f'seed-{seed}'


def compare(data_dir: str | Path, out_dir: str | Path, train_config: TrainConfig,
            model_config: ModelConfig, models: tuple[str, ...] = MODEL_NAMES,
            seeds: tuple[int, ...] = (0,), ablations: bool = False,
            configs: str | Path | None = None, workers: int = 1,
            progress: bool = True) -> dict[str, Any]:
    """Train every entry of :func:`comparison_entries` once per seed, then write
    ``<out>/compare.json`` and ``<out>/compare.md``.

    With ``workers`` > 1 that many runs train at once, each in a process of its own with one
    thread per core share; otherwise the graph is loaded once for all runs.

    Returns:
        ``compare.json``'s content (:func:`~addrl_graph.training.compare_report.summarize`).
    """
    if not seeds or len(set(seeds)) != len(seeds) or min(seeds) < 0:
        raise ConfigError(f'seeds must be distinct ints >= 0 (got {list(seeds)})')
    if workers < 1:
        raise ConfigError(f'workers must be an int >= 1 (got {workers})')
    entries = comparison_entries(train_config, model_config, models, ablations, configs)
    meta = read_json(Path(data_dir) / 'meta.json', GraphSchemaError)
    jobs = [(str(data_dir), str(run_folder(out_dir, e.name, s)),
             dataclasses.replace(e.train_config, seed=s), e.model_config, meta)
            for e in entries for s in seeds]
    if workers == 1:
        loaded = load_graph(data_dir)
        for job in jobs:
            _train_job(*job, progress=progress, loaded=loaded)
    else:
        threads = max(1, torch.get_num_threads() // workers)
        with concurrent.futures.ProcessPoolExecutor(
                workers, mp_context=multiprocessing.get_context('spawn'),
                initializer=torch.set_num_threads, initargs=(threads,)) as pool:
            for future in [pool.submit(_train_job, *job, progress=False) for job in jobs]:
                future.result()
    summary = summarize(out_dir, [e.name for e in entries], seeds, REFERENCE)
    write_report(out_dir, summary, meta)
    return summary


def _train_job(data_dir: str, run_dir: str, train_config: TrainConfig, model_config: ModelConfig,
               meta: dict[str, Any], progress: bool, loaded: Any = None) -> None:
    """One seed of one entry: trained, resumed, or (finished already, with this very
    configuration) left as it is."""
    run = Path(run_dir)
    if (run / 'results.json').is_file() and (run / PER_USER_FILE).is_file():
        wanted = run_config(Path(data_dir), meta, train_config.resolved(), model_config)
        differences = config_differences(read_run_config(run), wanted, free=('train.tensorboard',))
        if differences:
            raise ConfigError(f'{run} holds a finished run of another configuration '
                              f'({"; ".join(differences)}): choose another --out')
        return
    logger.info('training %s', run_dir)
    train(data_dir, run_dir, train_config, model_config, progress=progress, loaded=loaded,
          resume=(Path(run_dir) / 'last.json').is_file())
