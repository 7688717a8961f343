"""Options of a training run and what its ``config.json`` records."""
from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from addrl_graph.distributed import DistContext
from addrl_graph.errors import ConfigError
from addrl_graph.nn.config import BaselineConfig, ModelConfig, is_finite_number
from addrl_graph.nn.registry import MODEL_DEFAULTS, MODEL_NAMES

logger = logging.getLogger(__name__)


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
            (self.epochs >= 1, 'epochs', 'an int >= 1'),
            (self.batch_size >= 1, 'batch_size', 'an int >= 1'),
            (self.lr is None or is_finite_number(self.lr) and self.lr > 0, 'lr',
             'None or a finite number > 0'),
            (self.num_neg is None or self.num_neg >= 1, 'num_neg', 'None or an int >= 1'),
            (self.patience >= 1, 'patience', 'an int >= 1'),
            (self.max_minutes is None or is_finite_number(self.max_minutes) and self.max_minutes > 0,
             'max_minutes', 'None or a finite number > 0'),
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


def run_config(data_dir: Path, meta: dict[str, Any], train_config: TrainConfig,
               model_config: ModelConfig) -> dict[str, Any]:
    """What ``config.json`` holds: enough to rebuild the model and check it fits the graph."""
    return {'data': str(Path(data_dir).resolve()), 'graph_sha256': meta.get('graph_sha256'),
            'attributes': [a['name'] for a in meta['attributes']],
            'train': dataclasses.asdict(train_config),
            'model': model_config.to_dict()}


def config_file_dict(train_config: TrainConfig, model_config: ModelConfig) -> dict[str, Any]:
    """The flat mapping a ``--config`` file holds: train and model fields at the top level,
    ``baseline`` nested."""
    return {**dataclasses.asdict(train_config), **model_config.to_dict()}
