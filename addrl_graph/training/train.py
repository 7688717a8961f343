"""Training loop: epochs over PyG link-loader batches, validation early stopping, checkpoints.

The trainer knows nothing about any model: :func:`addrl_graph.training.registry.build_model` gives it a
module and an objective, :func:`addrl_graph.evaluate.evaluate` scores it on validation.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from addrl_graph.training.checkpoint import load_checkpoint, save_checkpoint
from addrl_graph.nn.config import BaselineConfig, ModelConfig
from addrl_graph.data.schema import load_graph
from addrl_graph.distributed import (DistContext, broadcast_from_main, data_parallel,
                                     mean_over_ranks)
from addrl_graph.nn.encoders import ATTRIBUTE_ENCODERS
from addrl_graph.errors import CheckpointError, ConfigError
from addrl_graph.metrics.evaluate import evaluate
from addrl_graph.io import atomic_write_bytes, atomic_write_json
from addrl_graph.loader.link_loader import make_train_loader
from addrl_graph.training.optim import make_optimizer
from addrl_graph.training.registry import MODEL_DEFAULTS, MODEL_NAMES, build_model

logger = logging.getLogger(__name__)
SELECTION_METRIC = 'recall@20'


@dataclass
class TrainConfig:
    """Options of ``python -m addrl_graph train``.

    Fields left at :obj:`None` take the model's tuned default
    (:data:`addrl_graph.training.registry.MODEL_DEFAULTS`, chosen on real data); :meth:`resolved` fills
    them in, and a run's ``config.json`` records the resolved values.

    Args:
        model: ``addrl``, ``bpr-mf``, ``lightgcn`` or ``vbpr``.
        epochs: maximum number of epochs (one epoch = every training edge once).
        batch_size: triplets per batch (paper: 1024).
        lr: Adam learning rate; None: the model's default (the paper's 1e-4 needs hundreds of
            epochs).
        num_neg: negatives per positive; None: the model's default.
        patience: epochs without a better validation Recall@20 before stopping (paper: 50).
        seed: seed of the initialisation and of the batch order (epoch ``e`` uses ``seed, e``).
        device: ``cpu`` or ``cuda[:n]``.
        max_minutes: stop after the epoch that exceeds this wall-clock budget.
        eval_batch_size: users per block in the validation full ranking.
        num_neighbors: mini-batch training of a graph ID encoder (``addrl`` with
            ``id_encoder`` ``lightgcn``, ``gcn`` or ``sage``): neighbours sampled per hop, one
            fan-out (``>= 1``, or ``-1`` for all) per encoder layer; every step then encodes the
            batch's sampled neighbourhood instead of the whole graph. None: the whole graph
            every step. Evaluation always encodes the whole graph. (command line: ``10,5``)
        sparse_embeddings: update the user and item ID tables sparsely (lazy Adam, see
            :mod:`addrl_graph.training.optim`): a step then costs the batch, not the whole tables, which
            matters on large graphs. AD-DRL with the ``embedding`` ID encoder or with
            ``num_neighbors``; single process.
        baseline: options of the comparison models (ignored by ``addrl``).
    """
    model: str = 'addrl'
    epochs: int = 1000
    batch_size: int = 1024
    lr: float | None = None
    num_neg: int | None = None
    patience: int = 10
    seed: int = 0
    device: str = 'cpu'
    max_minutes: float | None = None
    eval_batch_size: int = 1024
    num_neighbors: list[int] | None = None
    sparse_embeddings: bool = False
    baseline: BaselineConfig = field(default_factory=BaselineConfig)

    def __post_init__(self) -> None:
        if isinstance(self.num_neighbors, str):  # from the command line: '10,5'
            try:
                self.num_neighbors = [int(n) for n in self.num_neighbors.split(',')]
            except ValueError:
                pass  # validate() names the field
        if isinstance(self.baseline, dict):  # from config.json or a config file
            self.baseline = BaselineConfig(**self.baseline)

    def resolved(self) -> TrainConfig:
        """A copy with every :obj:`None` default of the model filled in from
        :data:`~addrl_graph.training.registry.MODEL_DEFAULTS` (baseline options only for baselines)."""
        defaults = MODEL_DEFAULTS[self.model]
        takes = defaults.get('baseline', {})
        given = self.baseline.options()
        ignored = sorted(set(given) - set(takes))
        if ignored:
            logger.warning('--model %s takes no baseline option %s: ignored', self.model, ignored)
        baseline = {**takes, **{k: v for k, v in given.items() if k in takes}}
        return dataclasses.replace(
            self, lr=defaults['lr'] if self.lr is None else self.lr,
            num_neg=defaults['num_neg'] if self.num_neg is None else self.num_neg,
            baseline=BaselineConfig(**baseline))

    def validate(self) -> TrainConfig:
        """Check every field; return ``self`` or raise :class:`ConfigError` naming the flag."""
        if self.model not in MODEL_NAMES:
            raise ConfigError(f'--model must be one of {MODEL_NAMES} (got {self.model!r})')
        self.baseline.validate()
        checks = [
            (self.epochs >= 1, 'epochs', 'an int >= 1'),
            (self.batch_size >= 1, 'batch_size', 'an int >= 1'),
            (self.lr is None or self.lr > 0, 'lr', 'None or a number > 0'),
            (self.num_neg is None or self.num_neg >= 1, 'num_neg', 'None or an int >= 1'),
            (self.patience >= 1, 'patience', 'an int >= 1'),
            (self.max_minutes is None or self.max_minutes > 0, 'max_minutes', 'a number > 0'),
            (self.num_neighbors is None
             or (isinstance(self.num_neighbors, list) and len(self.num_neighbors) > 0
                 and all(isinstance(n, int) and not isinstance(n, bool) and (n >= 1 or n == -1)
                         for n in self.num_neighbors)),
             'num_neighbors', 'a list of fan-outs >= 1 or -1 (all), one per encoder layer'),
        ]
        for ok, name, expected in checks:
            if not ok:
                raise ConfigError(f'--{name.replace("_", "-")} must be {expected} '
                                  f'(got {getattr(self, name)!r})')
        return self


def check_num_neighbors(train_config: TrainConfig, model_config: ModelConfig) -> None:
    """Neighbour sampling needs AD-DRL with a graph ID encoder and one fan-out per encoder
    layer; raise :class:`ConfigError` otherwise."""
    hops = train_config.num_neighbors
    if hops is None:
        return
    if train_config.model != 'addrl' or model_config.id_encoder == 'embedding':
        raise ConfigError(f'--num-neighbors samples the neighbourhoods a graph ID encoder '
                          f'propagates over: use it with --model addrl and --id-encoder '
                          f'lightgcn, gcn or sage (got model={train_config.model!r}, '
                          f'id_encoder={model_config.id_encoder!r})')
    if len(hops) != model_config.encoder_layers:
        raise ConfigError(f'--num-neighbors needs one fan-out per encoder layer, '
                          f'{model_config.encoder_layers} (got {hops})')


def check_sparse_embeddings(train_config: TrainConfig, model_config: ModelConfig,
                            ctx: DistContext) -> None:
    """Sparse table updates need AD-DRL reading its tables by row, in one process."""
    if not train_config.sparse_embeddings:
        return
    reads_rows = model_config.id_encoder == 'embedding' or train_config.num_neighbors
    if train_config.model != 'addrl' or not reads_rows:
        raise ConfigError('--sparse-embeddings needs --model addrl with --id-encoder embedding '
                          'or with --num-neighbors (full-graph propagation reads whole tables) '
                          f'(got model={train_config.model!r}, '
                          f'id_encoder={model_config.id_encoder!r}, '
                          f'num_neighbors={train_config.num_neighbors})')
    if ctx.active:
        raise ConfigError('--sparse-embeddings runs in a single process (DDP would need a '
                          f'sparse all-reduce) (got {ctx.world_size} processes)')


def run_config(data_dir: Path, meta: dict[str, Any], train_config: TrainConfig,
               model_config: ModelConfig) -> dict[str, Any]:
    """What ``config.json`` holds: enough to rebuild the model and check it fits the graph."""
    return {'data': str(Path(data_dir).resolve()), 'graph_sha256': meta.get('graph_sha256'),
            'attributes': [a['name'] for a in meta['attributes']],
            'train': dataclasses.asdict(train_config),
            'model': model_config.to_dict()}


def _read_history(path: Path, before_epoch: int) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [r for r in rows if r['epoch'] < before_epoch]


def _write_history(path: Path, rows: list[dict[str, Any]]) -> None:
    atomic_write_bytes(path, ''.join(json.dumps(r) + '\n' for r in rows).encode())


def train(data_dir: str | Path, run_dir: str | Path, train_config: TrainConfig | None = None,
          model_config: ModelConfig | None = None, resume: bool = False,
          progress: bool = True, distributed: DistContext | None = None,
          on_epoch: Callable[[int, dict[str, Any]], None] | None = None,
          test: bool = True) -> dict[str, Any]:
    """Train one model on a processed graph and evaluate the best checkpoint on test.

    Writes into ``run_dir``: ``config.json``, ``metrics.jsonl`` (one row per epoch),
    ``best.pt``/``best.json``, ``last.pt``/``last.json`` and ``results.json``.

    With ``distributed`` (default: the process group joined with
    :func:`addrl_graph.distributed.init_distributed`, if any) of more than one process, every rank trains on its shard of each epoch's training edges with
    ``ceil(batch_size / W)`` triplets per step and DDP-averaged gradients; epoch loss terms are
    averaged over the ranks; rank 0 alone evaluates, writes the run folder and decides when to
    stop (see :mod:`addrl_graph.distributed`).

    ``on_epoch(epoch, row)`` is called on the main rank after each epoch's checkpoints are
    written, with the epoch's ``metrics.jsonl`` row (losses and ``valid_*`` metrics); an
    exception it raises (e.g. :class:`optuna.TrialPruned`) stops training and propagates. With
    ``test=False`` the test split is not read: ``results.json`` then holds no ``test`` entry
    (hyper-parameter search chooses on validation only).

    Returns:
        ``results.json``'s content: best epoch, its validation metrics, test metrics, timings.
    """
    train_config = (train_config or TrainConfig()).validate().resolved()
    model_config = (model_config or ModelConfig()).validate()
    check_num_neighbors(train_config, model_config)
    ctx = distributed or DistContext.current()
    check_sparse_embeddings(train_config, model_config, ctx)
    run_dir = Path(run_dir)
    data, meta = load_graph(data_dir)
    config = run_config(Path(data_dir), meta, train_config, model_config)
    device = torch.device(train_config.device)

    torch.manual_seed(train_config.seed)
    model, objective = build_model(train_config.model, data, meta, model_config,
                                   train_config.baseline.options())
    model.to(device)
    optimizer = make_optimizer(model, train_config.lr, train_config.sparse_embeddings)
    start_epoch, best, best_epoch, stale = 0, -1.0, -1, 0
    if resume:
        state, info = load_checkpoint(run_dir, 'last', map_location=device)
        _check_same_run(info['config'], config)
        model.load_state_dict(state['model'])
        optimizer.load_state_dict(state['optimizer'])
        start_epoch, best, best_epoch, stale = (state['epoch'] + 1, state['best'],
                                                state['best_epoch'], state['stale'])
        logger.info('resumed from epoch %d (best %s %.4f at epoch %d)', state['epoch'],
                    SELECTION_METRIC, best, best_epoch)
    elif (run_dir / 'last.pt').exists():
        raise ConfigError(f'{run_dir} already holds a run: pass --resume to continue it or '
                          'choose another --out')
    if ctx.active:
        objective = data_parallel(model, objective, device)
    if ctx.is_main:
        atomic_write_json(run_dir / 'config.json', config)
    history = _read_history(run_dir / 'metrics.jsonl', start_epoch)

    started = time.perf_counter()
    for epoch in range(start_epoch, train_config.epochs):
        row = _train_epoch(model, objective, optimizer, data, train_config, epoch, device,
                           progress and ctx.is_main, ctx,
                           attribute_neighbors=model_config.id_encoder in ATTRIBUTE_ENCODERS)
        model.eval()
        valid = (evaluate(model, data, 'valid', user_batch_size=train_config.eval_batch_size,
                          device=device, progress=False) if ctx.is_main else None)
        elapsed_min = (time.perf_counter() - started) / 60
        valid, elapsed_min = broadcast_from_main((valid, elapsed_min), ctx)
        row.update({f'valid_{k}': v for k, v in valid.items()})
        improved = valid[SELECTION_METRIC] > best
        if improved:
            best, best_epoch, stale = valid[SELECTION_METRIC], epoch, 0
        else:
            stale += 1
        history.append(row)
        if ctx.is_main:
            _write_history(run_dir / 'metrics.jsonl', history)
            state = {'model': model.state_dict(), 'optimizer': optimizer.state_dict(),
                     'epoch': epoch, 'best': best, 'best_epoch': best_epoch, 'stale': stale}
            if improved:
                save_checkpoint(run_dir, 'best', {'model': state['model'], 'epoch': epoch},
                                {'config': config, 'epoch': epoch, 'valid': valid})
            save_checkpoint(run_dir, 'last', state, {'config': config, 'epoch': epoch})
        logger.info('epoch %d: loss %.4f  valid %s %.4f (best %.4f @ %d)  %.1f s', epoch,
                    row['loss'], SELECTION_METRIC, valid[SELECTION_METRIC], best, best_epoch,
                    row['seconds'])
        if on_epoch is not None and ctx.is_main:
            on_epoch(epoch, row)
        if stale >= train_config.patience:
            logger.info('early stop: no better %s for %d epochs', SELECTION_METRIC, stale)
            break
        if train_config.max_minutes is not None and elapsed_min >= train_config.max_minutes:
            logger.info('stop: time budget of %.1f min spent', train_config.max_minutes)
            break
    results = finish(run_dir, data, history, train_config, device, test) if ctx.is_main else None
    return broadcast_from_main(results, ctx)


def _train_epoch(model, objective, optimizer, data, train_config: TrainConfig, epoch: int,
                 device: torch.device, progress: bool, ctx: DistContext | None = None,
                 attribute_neighbors: bool = False) -> dict[str, Any]:
    """One pass over every training edge (this rank's shard of them under data parallelism);
    returns the epoch's mean loss terms (averaged over ranks) and seconds. With
    ``train_config.num_neighbors`` the batches carry sampled neighbourhoods (with the
    attribute-value nodes when ``attribute_neighbors``)."""
    ctx = ctx or DistContext()
    loader = make_train_loader(data, batch_size=-(-train_config.batch_size // ctx.world_size),
                               num_neg=train_config.num_neg, shuffle=True,
                               seed=train_config.seed * 1_000_003 + epoch,
                               num_neighbors=train_config.num_neighbors,
                               attribute_neighbors=attribute_neighbors,
                               shard=(ctx.rank, ctx.world_size) if ctx.active else None)
    model.train()
    sums: dict[str, float] = {}
    batches = 0
    start = time.perf_counter()
    bar = tqdm(loader, desc=f'epoch {epoch}', disable=not progress, leave=False)
    for batch in bar:
        loss, terms = objective(model, batch.to(device))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        batches += 1
        for key, value in terms.items():
            sums[key] = sums.get(key, 0.0) + float(value)
        bar.set_postfix({k: f'{v:.3g}' for k, v in terms.items()}, refresh=False)
    means = mean_over_ranks({k: v / max(1, batches) for k, v in sums.items()}, ctx)
    return {'epoch': epoch, 'seconds': round(time.perf_counter() - start, 3),
            'loss': means.get('total', 0.0), **{f'loss_{k}': v for k, v in means.items()}}


def _check_same_run(saved: dict[str, Any], current: dict[str, Any]) -> None:
    # a run saved before a TrainConfig field existed used that field's default
    saved = {**saved, 'train': {**dataclasses.asdict(TrainConfig()), **saved.get('train', {})}}
    for key in ('graph_sha256', 'attributes', 'train', 'model'):
        if saved.get(key) != current.get(key):
            raise CheckpointError(f'cannot resume: {key} differs from the checkpoint '
                                  f'(checkpoint {saved.get(key)!r}, now {current.get(key)!r})')


def finish(run_dir: Path, data, history: list[dict[str, Any]], train_config: TrainConfig,
           device: torch.device, test: bool = True) -> dict[str, Any]:
    """Reload the best checkpoint, evaluate it once on test (unless ``test`` is false) and
    write ``results.json``."""
    from addrl_graph.training.runs import load_run_model

    model, info = load_run_model(run_dir, data=data, device=device)
    results = {'model': train_config.model, 'best_epoch': info['epoch'],
               'epochs_run': len(history), 'valid': info['valid'],
               'seconds_per_epoch': (sum(r['seconds'] for r in history) / len(history)
                                     if history else None)}
    if test:
        results['test'] = evaluate(model, data, 'test', device=device, progress=False,
                                   user_batch_size=train_config.eval_batch_size)
    atomic_write_json(run_dir / 'results.json', results)
    return results
