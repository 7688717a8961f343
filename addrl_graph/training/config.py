"""Options of a training run and what its ``config.json`` records."""
from __future__ import annotations

import dataclasses
import logging
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from addrl_graph.data.train_graph import TrainGraph
from addrl_graph.distributed import DistContext
from addrl_graph.errors import CheckpointError, ConfigError
from addrl_graph.nn.config import BaselineConfig, ModelConfig, is_finite_number, is_int_in
from addrl_graph.nn.registry import MODEL_DEFAULTS, MODEL_NAMES
from addrl_graph.nn.scoring import CUDA_ITEM_BLOCK

logger = logging.getLogger(__name__)
#: Upper bounds of the size fields, whatever the graph: a million triplets per step, 65,536 users
#: per evaluation block (one block of a 100,000-item graph is then 26 GB of scores), 1,024
#: neighbours per hop (``-1`` takes them all). :func:`check_sizes` adds the graph's bounds.
MAX_BATCH_SIZE, MAX_EVAL_BATCH_SIZE, MAX_FAN_OUT = 2 ** 20, 2 ** 16, 1024
#: Seeds numpy and Optuna take (torch takes more).
MAX_SEED = 2 ** 32 - 1
DEVICE_TYPES = ('cpu', 'cuda')


@dataclass
class TrainConfig:
    """Options of ``python -m addrl_graph train``.

    Fields left at :obj:`None` take the model's tuned default
    (:data:`addrl_graph.nn.registry.MODEL_DEFAULTS`, chosen on real data); :meth:`resolved` fills
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
        tensorboard: folder for TensorBoard event files of every epoch's losses and
            validation metrics (needs the ``tensorboard`` extra); None: none.
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
    tensorboard: str | None = None
    baseline: BaselineConfig = field(default_factory=BaselineConfig)

    def __post_init__(self) -> None:
        """Check every field: a config is validated once, where it is made."""
        if isinstance(self.baseline, dict):  # from config.json or a config file
            self.baseline = BaselineConfig(**self.baseline)
        self.validate()

    def resolved(self) -> TrainConfig:
        """A copy with every :obj:`None` default of the model filled in from
        :data:`~addrl_graph.nn.registry.MODEL_DEFAULTS` (baseline options only for baselines)."""
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
        checks = [
            (is_int_in(self.epochs, 1, math.inf), 'epochs', 'an int >= 1'),
            (is_int_in(self.batch_size, 1, MAX_BATCH_SIZE), 'batch_size',
             f'an int in [1, {MAX_BATCH_SIZE}]'),
            (self.lr is None or is_finite_number(self.lr) and self.lr > 0, 'lr',
             'None or a finite number > 0'),
            (self.num_neg is None or is_int_in(self.num_neg, 1, math.inf), 'num_neg',
             'None or an int >= 1'),
            (is_int_in(self.patience, 1, math.inf), 'patience', 'an int >= 1'),
            (is_int_in(self.seed, 0, MAX_SEED), 'seed', f'an int in [0, {MAX_SEED}]'),
            (_is_device(self.device), 'device', "'cpu' or 'cuda[:n]'"),
            (self.max_minutes is None or is_finite_number(self.max_minutes) and self.max_minutes > 0,
             'max_minutes', 'None or a finite number > 0'),
            (is_int_in(self.eval_batch_size, 1, MAX_EVAL_BATCH_SIZE), 'eval_batch_size',
             f'an int in [1, {MAX_EVAL_BATCH_SIZE}]'),
            (isinstance(self.baseline, BaselineConfig), 'baseline', 'a mapping of its options'),
            (self.num_neighbors is None
             or (isinstance(self.num_neighbors, list) and len(self.num_neighbors) > 0
                 and all(is_int_in(n, 1, MAX_FAN_OUT) or n == -1 for n in self.num_neighbors)),
             'num_neighbors', f'a list of fan-outs in [1, {MAX_FAN_OUT}] or -1 (all), one per '
             'encoder layer'),
        ]
        for ok, name, expected in checks:
            if not ok:
                raise ConfigError(f'--{name.replace("_", "-")} must be {expected} '
                                  f'(got {getattr(self, name)!r})')
        return self


def check_batch_needs(train_config: TrainConfig, needs: dict[str, Any],
                      has_tables: bool, ctx: DistContext) -> None:
    """Check the training options against what the model declares (``model.batch_needs``):
    neighbour sampling needs a model that reads sampled graphs, with one fan-out per encoder
    layer; sparse table updates need tables read by row, in one process."""
    hops = train_config.num_neighbors
    if hops is not None and not needs.get('sampled_graph'):
        raise ConfigError(f'--num-neighbors samples the neighbourhoods a graph ID encoder '
                          f'propagates over: use it with --model addrl and --id-encoder '
                          f'lightgcn, gcn or sage (got model={train_config.model!r}, which '
                          'reads no sampled graph)')
    if hops is not None and len(hops) != needs['hops']:
        raise ConfigError(f'--num-neighbors needs one fan-out per encoder layer, '
                          f'{needs["hops"]} (got {hops})')
    if not train_config.sparse_embeddings:
        return
    if not has_tables or (needs.get('sampled_graph') and hops is None):
        raise ConfigError('--sparse-embeddings needs --model addrl with --id-encoder embedding '
                          'or with --num-neighbors (full-graph propagation reads whole tables) '
                          f'(got model={train_config.model!r}, '
                          f'num_neighbors={train_config.num_neighbors})')
    if ctx.active:
        raise ConfigError('--sparse-embeddings runs in a single process (DDP would need a '
                          f'sparse all-reduce) (got {ctx.world_size} processes)')


def _is_device(device: Any) -> bool:
    """``device`` is a device string of :data:`DEVICE_TYPES` (``cpu``, ``cuda``, ``cuda:1``)."""
    try:
        return isinstance(device, str) and torch.device(device).type in DEVICE_TYPES
    except RuntimeError:  # torch's error for an unknown device string
        return False


def check_device(device: str) -> torch.device:
    """``device`` as a :class:`torch.device` this machine has; :class:`ConfigError` naming
    ``--device`` otherwise (a CUDA device on a machine, or a torch, without it)."""
    if not _is_device(device):
        raise ConfigError(f"--device must be 'cpu' or 'cuda[:n]' (got {device!r})")
    parsed = torch.device(device)
    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if parsed.type == 'cuda' and (parsed.index or 0) >= count:
        where = (f'this machine has {count} CUDA device(s)' if torch.backends.cuda.is_built()
                 else 'this torch is built without CUDA')
        raise ConfigError(f'--device {device} is not available: {where}; use --device cpu '
                          f'(got {device!r})')
    return parsed


@dataclass(frozen=True)
class MemoryEstimate:
    """Bytes a run holds at least, float32 throughout (``W`` the width of a user or item
    vector: ``K * d`` for AD-DRL, ``embedding_dim`` for the baselines).

    Attributes:
        tables: the user and item tables ``(U + I) * W``, four times (weights, gradients and
            Adam's two moments), plus the ``L + 1`` layer outputs a graph encoder keeps.
        per_triplet: one triplet of a training batch: ``N + 2`` rows of ``W``, and their
            gradients.
        per_eval_user: one user of an evaluation block: its ``I`` scores and, on CUDA, its
            ``K * min(I, CUDA_ITEM_BLOCK)`` chunk scores of one tile.
    """
    tables: int
    per_triplet: int
    per_eval_user: int


def estimate_memory(train_config: TrainConfig, model_config: ModelConfig,
                    graph: TrainGraph) -> MemoryEstimate:
    """The :class:`MemoryEstimate` of training ``train_config.model`` (resolved, see
    :meth:`TrainConfig.resolved`) on ``graph``."""
    if train_config.model == 'addrl':
        chunks = len(graph.attribute_names) + model_config.free_chunks
        width = chunks * model_config.d_chunk
        propagates = model_config.id_encoder != 'embedding'
        layers = model_config.encoder_layers
    else:
        chunks, width = 1, train_config.baseline.embedding_dim
        propagates, layers = train_config.model == 'lightgcn', train_config.baseline.num_layers
    copies = 4 + (layers + 1 if propagates else 0)
    items = graph.num_items
    on_cuda = torch.device(train_config.device).type == 'cuda'
    tile = chunks * min(items, CUDA_ITEM_BLOCK) if on_cuda else 0
    return MemoryEstimate(tables=4 * (graph.num_users + items) * width * copies,
                          per_triplet=4 * 2 * (train_config.num_neg + 2) * width,
                          per_eval_user=4 * (items + tile))


def device_memory(device: str) -> int | None:
    """Bytes of memory of ``device`` (a GPU's, or the machine's RAM); :obj:`None` when unknown."""
    parsed = torch.device(device)
    if parsed.type == 'cuda':
        if not torch.cuda.is_available():
            return None
        index = torch.cuda.current_device() if parsed.index is None else parsed.index
        return torch.cuda.get_device_properties(index).total_memory
    try:
        return os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES')
    except (AttributeError, ValueError, OSError):  # no sysconf (Windows) or no such name
        return None


def check_sizes(train_config: TrainConfig, model_config: ModelConfig, graph: TrainGraph,
                memory: int | None = None) -> None:
    """Check the size options against ``graph`` before any work: fewer negatives than items,
    and the :class:`MemoryEstimate` within ``memory`` bytes (default: :func:`device_memory`
    of ``train_config.device``): the tables, then with them one training batch and one
    evaluation block. The error names the flag, its largest value that fits and ``(got …)``."""
    train_config = train_config.resolved()
    if train_config.num_neg >= graph.num_items:
        raise ConfigError(f'--num-neg must be below the number of items ({graph.num_items}): '
                          f'negatives are drawn among the items (got {train_config.num_neg})')
    memory = device_memory(train_config.device) if memory is None else memory
    if memory is None:
        return
    need = estimate_memory(train_config, model_config, graph)
    where = f'the {_gib(memory)} of {train_config.device}'
    if need.tables > memory:
        flag, value = (('--d-chunk', model_config.d_chunk) if train_config.model == 'addrl'
                       else ('--baseline.embedding-dim', train_config.baseline.embedding_dim))
        largest = memory * value // need.tables  # the tables grow with the width
        bound = f'at most {largest}' if largest else 'below 1 (no width fits)'
        raise ConfigError(f'{flag} must be {bound} on this graph: its tables with '
                          f'gradients and Adam moments need {_gib(need.tables)}, more than '
                          f'{where} (got {value})')
    left = memory - need.tables
    for flag, value, per, what in (
            ('--batch-size', train_config.batch_size, need.per_triplet, 'a training batch'),
            ('--eval-batch-size', train_config.eval_batch_size, need.per_eval_user,
             'an evaluation block')):
        if value * per > left:
            raise ConfigError(f'{flag} must be at most {left // per} on this graph: '
                              f'{what} needs {_gib(value * per)} beside the '
                              f'{_gib(need.tables)} of tables, more than {where} (got {value})')


def _gib(num_bytes: int) -> str:
    return f'{num_bytes / 2 ** 30:.1f} GiB'


def run_config(data_dir: Path, meta: dict[str, Any], train_config: TrainConfig,
               model_config: ModelConfig) -> dict[str, Any]:
    """What ``config.json`` holds: enough to rebuild the model and check it fits the graph."""
    return {'data': str(Path(data_dir).resolve()), 'graph_sha256': meta.get('graph_sha256'),
            'attributes': [a['name'] for a in meta['attributes']],
            'train': dataclasses.asdict(train_config),
            'model': model_config.to_dict()}


def check_run_config(config: Any, path: Path) -> dict[str, Any]:
    """``config``, read from ``path``, if it is what :func:`run_config` writes: a JSON object
    with ``data`` (a path) and ``train`` / ``model`` mappings that make a :class:`TrainConfig`
    and a :class:`ModelConfig` (fields it predates take their defaults).

    Raises:
        CheckpointError: naming ``path`` and what is wrong (a hand edit, another version).
    """
    try:
        if not (isinstance(config, dict) and isinstance(config.get('data'), str)
                and all(isinstance(config.get(key), dict) for key in ('train', 'model'))):
            raise ConfigError('expected a JSON object with data (a path), train and model '
                              '(mappings)')
        TrainConfig(**config['train'])
        ModelConfig.from_dict(config['model'])
    except (ConfigError, TypeError) as e:  # TypeError: a key no config field has
        raise CheckpointError(f'{path} is not a run config this version reads: {e}; restore '
                              'the file or train the run again') from None
    return config


def config_file_dict(train_config: TrainConfig, model_config: ModelConfig) -> dict[str, Any]:
    """The flat mapping a ``--config`` file holds: train and model fields at the top level,
    ``baseline`` nested."""
    return {**dataclasses.asdict(train_config), **model_config.to_dict()}
