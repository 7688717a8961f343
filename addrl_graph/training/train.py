"""Training loop: epochs over PyG link-loader batches, validation early stopping, checkpoints.

The trainer knows no model: :func:`addrl_graph.nn.registry.build_model` gives it a module whose
``forward(batch, graph)`` is the step's loss and whose ``batch_needs`` say what the loader must
put in a batch; :func:`addrl_graph.metrics.evaluate.evaluate` scores it on validation. The graph
is loaded once per run (or handed in), its :class:`~addrl_graph.data.train_graph.TrainGraph`
and the training loader are built once and the loader reseeded every epoch; what happens
around the loop is a list of callbacks (:mod:`addrl_graph.training.callbacks`).
"""
from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch_geometric.data import HeteroData

from addrl_graph.data.schema import load_graph
from addrl_graph.data.train_graph import TrainGraph
from addrl_graph.distributed import DistContext, broadcast_from_main, mean_over_ranks
from addrl_graph.errors import CheckpointError, ConfigError, TrainingDiverged
from addrl_graph.io import atomic_torch_save, atomic_write_json, read_json
from addrl_graph.loader.link_loader import make_train_loader
from addrl_graph.locks import folder_lock
from addrl_graph.metrics.evaluate import evaluate
from addrl_graph.metrics.ranking import ALL_METRICS
from addrl_graph.nn.config import ModelConfig
from addrl_graph.nn.registry import build_model
from addrl_graph.training.callbacks import (Callback, Checkpointer, EpochHook, MetricsLog,
                                            ProgressBar, RunState, TensorBoardWriter)
from addrl_graph.training.config import (TrainConfig, check_batch_needs, check_sizes,
                                         run_config)
from addrl_graph.training.optim import make_optimizer
from addrl_graph.training.runs import (config_differences, load_checkpoint, load_run_model,
                                      migrate_state)

logger = logging.getLogger(__name__)
SELECTION_METRIC = 'recall@20'
#: The test split's per-user metrics (:class:`~addrl_graph.metrics.per_user.UserMetrics`).
PER_USER_FILE = 'test_per_user.pt'
Loaded = tuple[HeteroData, dict[str, Any]]

__all__ = ['SELECTION_METRIC', 'TrainConfig', 'train', 'run_config']


def train(data_dir: str | Path, run_dir: str | Path, train_config: TrainConfig | None = None,
          model_config: ModelConfig | None = None, resume: bool = False,
          progress: bool = True, distributed: DistContext | None = None,
          on_epoch: Callable[[int, dict[str, Any]], None] | None = None,
          test: bool = True, loaded: Loaded | None = None) -> dict[str, Any]:
    """Train one model on a processed graph and evaluate the best checkpoint on test.

    Writes into ``run_dir``: ``config.json``, ``metrics.jsonl`` (one row per epoch), the
    checkpoints ``best`` and ``last`` (:mod:`addrl_graph.training.runs`), ``results.json`` and
    ``test_per_user.pt``.

    With ``distributed`` (default: the process group joined with
    :func:`addrl_graph.distributed.init_distributed`, if any) of more than one process, every
    rank trains on its shard of each epoch's training edges with ``ceil(batch_size / W)``
    triplets per step and DDP-averaged gradients; epoch loss terms are averaged over the ranks;
    rank 0 alone evaluates, writes the run folder and decides when to stop (see
    :mod:`addrl_graph.distributed`).

    ``on_epoch(epoch, row)`` is called on the main rank after each epoch's checkpoints are
    written, with the epoch's ``metrics.jsonl`` row (losses and ``valid_*`` metrics); an
    exception it raises (e.g. :class:`optuna.TrialPruned`) stops training and propagates. With
    ``test=False`` the test split is not read: ``results.json`` then holds no ``test`` entry
    (hyper-parameter search chooses on validation only). ``loaded`` is ``(data, meta)`` of
    ``data_dir`` when the caller has loaded it already (``compare`` loads it once).

    Returns:
        ``results.json``'s content: best epoch, its validation metrics, test metrics, timings.
    """
    train_config = (train_config or TrainConfig()).resolved()
    model_config = model_config or ModelConfig()
    ctx = distributed or DistContext.current()
    run_dir = Path(run_dir)
    data, meta = loaded if loaded is not None else load_graph(data_dir)
    config = run_config(Path(data_dir), meta, train_config, model_config)
    device = torch.device(train_config.device)
    graph = TrainGraph.from_data(data, meta).to(device)

    torch.manual_seed(train_config.seed)
    check_sizes(train_config, model_config, graph)
    model = build_model(train_config.model, graph, model_config,
                        train_config.baseline.options()).to(device)
    needs = model.batch_needs
    check_batch_needs(train_config, needs, bool(model.embedding_tables()), ctx)
    optimizer = make_optimizer(model, train_config.lr, train_config.sparse_embeddings)
    loader = make_train_loader(data, batch_size=-(-train_config.batch_size // ctx.world_size),
                               num_neg=train_config.num_neg, shuffle=True,
                               num_neighbors=train_config.num_neighbors,
                               attribute_neighbors=needs['attribute_neighbors'],
                               shard=(ctx.rank, ctx.world_size) if ctx.active else None)
    with folder_lock(run_dir, 'run folder') if ctx.is_main else contextlib.nullcontext():
        state = _start(run_dir, resume, config, model, optimizer, device)
        resumed_epoch = state.epoch
        step_model = _data_parallel(model, device) if ctx.active else model
        if ctx.is_main:
            atomic_write_json(run_dir / 'config.json', config)
        history = MetricsLog.read(run_dir / 'metrics.jsonl', state.epoch + 1)
        callbacks = _callbacks(run_dir, config, model, optimizer, history, train_config,
                               progress, on_epoch) if ctx.is_main else []
        try:
            _fit(step_model, model, graph, data, loader, optimizer, train_config, state, ctx,
                 callbacks, device)
        finally:
            for callback in callbacks:
                callback.close()
        results = None
        if ctx.is_main:
            results = ((resume and state.epoch == resumed_epoch and _results(run_dir, test))
                       or finish(run_dir, data, meta, graph, history, train_config, device, test))
    return broadcast_from_main(results, ctx)


def _start(run_dir: Path, resume: bool, config: dict[str, Any], model: nn.Module,
           optimizer: Any, device: torch.device) -> RunState:
    """A fresh :class:`RunState`, or the one of ``last.pt`` (model and optimiser restored)."""
    if not resume:
        if (run_dir / 'last.json').exists() or (run_dir / 'last.pt').exists():
            raise ConfigError(f'{run_dir} already holds a run: pass --resume to continue it or '
                              'choose another --out')
        return RunState()
    saved, info = load_checkpoint(run_dir, 'last', map_location=device)
    differences = config_differences(info.get('config', {}), config)
    if differences:
        raise CheckpointError(f'cannot resume {run_dir}: {"; ".join(differences)} (only '
                              '--epochs, --patience, --max-minutes and --tensorboard may change)')
    model.load_state_dict(migrate_state(saved['model'], info.get('format_version', 1)))
    optimizer.load_state_dict(saved['optimizer'])
    state = RunState(saved['epoch'], saved['best'], saved['best_epoch'], saved['stale'])
    logger.info('resumed from epoch %d (best %s %.4f at epoch %d)', state.epoch,
                SELECTION_METRIC, state.best, state.best_epoch)
    return state


def _callbacks(run_dir: Path, config: dict[str, Any], model: nn.Module, optimizer: Any,
               history: list[dict[str, Any]], train_config: TrainConfig, progress: bool,
               on_epoch: Callable[[int, dict[str, Any]], None] | None) -> list[Callback]:
    callbacks: list[Callback] = [ProgressBar()] if progress else []
    callbacks += [MetricsLog(run_dir / 'metrics.jsonl', history),
                  Checkpointer(run_dir, config, model, optimizer)]
    if train_config.tensorboard is not None:
        callbacks.append(TensorBoardWriter(train_config.tensorboard))
    if on_epoch is not None:
        callbacks.append(EpochHook(on_epoch))
    return callbacks


def _fit(step_model: nn.Module, model: nn.Module, graph: TrainGraph, data: HeteroData,
         loader: Any, optimizer: Any, train_config: TrainConfig, state: RunState,
         ctx: DistContext, callbacks: list[Callback], device: torch.device) -> None:
    """Epochs until the budget, the patience or the time limit runs out."""
    started = time.perf_counter()
    for epoch in range(state.epoch + 1, train_config.epochs):
        if _should_stop(state, train_config, (time.perf_counter() - started) / 60):
            break
        loader.reseed(train_config.seed * 1_000_003 + epoch)
        row = _train_epoch(step_model, graph, loader, optimizer, epoch, device, ctx, callbacks)
        valid = (evaluate(model, data, 'valid', graph=graph, device=device, progress=False,
                          user_batch_size=train_config.eval_batch_size)
                 if ctx.is_main else None)
        elapsed_min = (time.perf_counter() - started) / 60
        valid, elapsed_min = broadcast_from_main((valid, elapsed_min), ctx)
        row.update({f'valid_{k}': v for k, v in valid.items()})
        state.update(epoch, valid[SELECTION_METRIC])
        for callback in callbacks:
            callback.on_epoch_end(row, state)
        logger.info('epoch %d: loss %.4f  valid %s %.4f (best %.4f @ %d)  %.1f s', epoch,
                    row['loss'], SELECTION_METRIC, valid[SELECTION_METRIC], state.best,
                    state.best_epoch, row['seconds'])
        if _should_stop(state, train_config, elapsed_min):
            break


def _should_stop(state: RunState, train_config: TrainConfig, elapsed_min: float) -> bool:
    """Whether patience or the time budget has run out (checked after every epoch, and before
    the first epoch of a resumed run, which may have stopped already)."""
    if state.stale >= train_config.patience:
        logger.info('early stop: no better %s for %d epochs', SELECTION_METRIC, state.stale)
        return True
    if train_config.max_minutes is not None and elapsed_min >= train_config.max_minutes:
        logger.info('stop: time budget of %.1f min spent', train_config.max_minutes)
        return True
    return False


def _train_epoch(step_model: nn.Module, graph: TrainGraph, loader: Any, optimizer: Any,
                 epoch: int, device: torch.device, ctx: DistContext,
                 callbacks: list[Callback]) -> dict[str, Any]:
    """One pass over every training edge (this rank's shard of them under data parallelism);
    returns the epoch's mean loss terms (averaged over ranks) and seconds."""
    step_model.train()
    sums: dict[str, float] = {}
    batches = 0
    start = time.perf_counter()
    for callback in callbacks:
        callback.on_epoch_start(epoch, len(loader))
    for batch in loader:
        loss, terms = step_model(batch.to(device), graph)
        if not torch.isfinite(loss):
            raise TrainingDiverged(
                f'the training loss became {float(loss.detach())} at epoch {epoch}, batch {batches} '
                f'(terms {terms}); the run folder keeps its last good epoch: lower --lr or the '
                'loss weights and start again')
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        bad = _nonfinite_gradient(step_model)
        if bad is not None:
            raise TrainingDiverged(
                f'the gradient of {bad} became NaN or infinite at epoch {epoch}, batch {batches} '
                f'(loss {float(loss.detach()):.4g}); the run folder keeps its last good epoch: '
                'lower --lr or the loss weights and start again')
        optimizer.step()
        batches += 1
        for key, value in terms.items():
            sums[key] = sums.get(key, 0.0) + float(value)
        for callback in callbacks:
            callback.on_batch_end(terms)
    means = mean_over_ranks({k: v / max(1, batches) for k, v in sums.items()}, ctx)
    return {'epoch': epoch, 'seconds': round(time.perf_counter() - start, 3),
            'loss': means.get('total', 0.0), **{f'loss_{k}': v for k, v in means.items()}}


def _nonfinite_gradient(model: nn.Module) -> str | None:
    """The name of the first parameter whose gradient holds NaN or inf, if any (one fused
    norm over all gradients first, so a finite step costs one reduction)."""
    named = [(name, p.grad.coalesce().values() if p.grad.is_sparse else p.grad)
             for name, p in model.named_parameters() if p.grad is not None]
    if not named or torch.isfinite(torch.nn.utils.get_total_norm([g for _, g in named])):
        return None
    return next((name for name, g in named if not torch.isfinite(g).all()), None)


def _data_parallel(model: nn.Module, device: torch.device) -> nn.Module:
    """``model`` wrapped in :class:`~torch.nn.parallel.DistributedDataParallel`, whose backward
    averages the gradients over the ranks."""
    return nn.parallel.DistributedDataParallel(
        model, device_ids=[device.index] if device.type == 'cuda' else None,
        broadcast_buffers=False)  # the buffers (layer weights) are the same on every rank


def _results(run_dir: Path, test: bool) -> dict[str, Any] | None:
    """``results.json`` of a run that a resumption did not extend (so its test split is not
    read again), if it holds what was asked for."""
    path = run_dir / 'results.json'
    results = read_json(path, CheckpointError) if path.is_file() else None
    return results if isinstance(results, dict) and (not test or 'test' in results) else None


def finish(run_dir: Path, data: HeteroData, meta: dict[str, Any], graph: TrainGraph,
           history: list[dict[str, Any]], train_config: TrainConfig, device: torch.device,
           test: bool = True) -> dict[str, Any]:
    """Reload the best checkpoint, evaluate it once on test (unless ``test`` is false: every
    metric of :data:`~addrl_graph.metrics.ranking.ALL_METRICS`, diversity over ``category``
    when the graph has it; the per-user values into ``test_per_user.pt`` for paired tests) and
    write ``results.json``."""
    model, info = load_run_model(run_dir, data=data, meta=meta, device=device, graph=graph)
    results = {'model': train_config.model, 'best_epoch': info['epoch'],
               'epochs_run': len(history), 'valid': info['valid'],
               'seconds_per_epoch': (sum(r['seconds'] for r in history) / len(history)
                                     if history else None)}
    if test:
        has_category = 'category' in graph.attribute_names
        results['test'], per_user = evaluate(
            model, data, 'test', graph=graph, device=device, progress=False,
            user_batch_size=train_config.eval_batch_size, per_user=True,
            metrics=[m for m in ALL_METRICS if has_category or m != 'diversity'])
        atomic_torch_save(run_dir / PER_USER_FILE, per_user.to_dict())
    atomic_write_json(run_dir / 'results.json', results)
    return results
