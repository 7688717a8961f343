"""What happens around the training loop, one callback per job: the progress bar, the epoch
log (``metrics.jsonl``), the checkpoints, an optional TensorBoard writer, the caller's hook.

A callback sees the epoch's ``metrics.jsonl`` row (loss terms, ``valid_*`` metrics, seconds) and
the :class:`RunState` after it; the trainer calls the callbacks in list order.
"""
from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from addrl_graph.errors import CheckpointError, ConfigError
from addrl_graph.io import atomic_write_bytes
from addrl_graph.training.runs import save_checkpoint


@dataclass
class RunState:
    """Where a run stands: the last finished epoch, the best validation score and its epoch,
    and the epochs since it improved (what ``last.pt`` saves for ``--resume``)."""
    epoch: int = -1
    best: float = -1.0
    best_epoch: int = -1
    stale: int = 0
    improved: bool = False

    def update(self, epoch: int, score: float) -> None:
        self.epoch, self.improved = epoch, score > self.best
        if self.improved:
            self.best, self.best_epoch, self.stale = score, epoch, 0
        else:
            self.stale += 1

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        del out['improved']
        return out


class Callback:
    """Hooks of the training loop; every method does nothing by default."""
    def on_epoch_start(self, epoch: int, num_batches: int) -> None:
        pass

    def on_batch_end(self, terms: dict[str, float]) -> None:
        pass

    def on_epoch_end(self, row: dict[str, Any], state: RunState) -> None:
        pass

    def close(self) -> None:
        pass


class ProgressBar(Callback):
    """A tqdm bar over each epoch's batches with the latest loss terms."""
    def __init__(self) -> None:
        self.bar: tqdm | None = None

    def on_epoch_start(self, epoch: int, num_batches: int) -> None:
        self.bar = tqdm(total=num_batches, desc=f'epoch {epoch}', leave=False)

    def on_batch_end(self, terms: dict[str, float]) -> None:
        self.bar.set_postfix({k: f'{v:.3g}' for k, v in terms.items()}, refresh=False)
        self.bar.update()

    def on_epoch_end(self, row: dict[str, Any], state: RunState) -> None:
        self.close()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


class MetricsLog(Callback):
    """``metrics.jsonl``: one row per epoch, rewritten atomically after each."""
    def __init__(self, path: Path, history: list[dict[str, Any]]) -> None:
        self.path, self.history = path, history

    @staticmethod
    def read(path: Path, before_epoch: int) -> list[dict[str, Any]]:
        """The rows of the epochs before ``before_epoch`` (what a resumed run keeps).

        Raises:
            CheckpointError: a line is no JSON object with an int ``epoch`` (a hand edit or a
                damaged file), naming the file and the line.
        """
        if not path.is_file():
            return []
        rows = []
        lines = path.read_bytes().decode(errors='replace').splitlines()
        for number, line in filter(lambda numbered: numbered[1].strip(), enumerate(lines, 1)):
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                row = None
            if not (isinstance(row, dict) and type(row.get('epoch')) is int):
                raise CheckpointError(f'{path}, line {number}: expected a JSON object with an int '
                                      f'epoch (got {line[:60]!r}); restore the file or train the '
                                      'run again')
            rows.append(row)
        return [r for r in rows if r['epoch'] < before_epoch]

    def on_epoch_end(self, row: dict[str, Any], state: RunState) -> None:
        self.history.append(row)
        atomic_write_bytes(self.path, ''.join(json.dumps(r) + '\n' for r in self.history).encode())


class Checkpointer(Callback):
    """``best.pt``/``best.json`` when validation improved, ``last.pt``/``last.json`` after every
    epoch (model, optimiser and :class:`RunState`, for ``--resume``)."""
    def __init__(self, run_dir: Path, config: dict[str, Any], model: Any, optimizer: Any) -> None:
        self.run_dir, self.config, self.model, self.optimizer = run_dir, config, model, optimizer

    def on_epoch_end(self, row: dict[str, Any], state: RunState) -> None:
        model_state = self.model.state_dict()
        valid = {k[len('valid_'):]: v for k, v in row.items() if k.startswith('valid_')}
        if state.improved:
            save_checkpoint(self.run_dir, 'best', {'model': model_state, 'epoch': state.epoch},
                            {'config': self.config, 'epoch': state.epoch, 'valid': valid})
        save_checkpoint(self.run_dir, 'last',
                        {'model': model_state, 'optimizer': self.optimizer.state_dict(),
                         **state.to_dict()},
                        {'config': self.config, 'epoch': state.epoch})


class TensorBoardWriter(Callback):
    """Every number of each epoch's row as a TensorBoard scalar under ``log_dir`` (needs the
    ``tensorboard`` package: ``pip install addrl-graph[tensorboard]``)."""
    def __init__(self, log_dir: str | Path) -> None:
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError as e:
            raise ConfigError('--tensorboard needs the tensorboard package: '
                              'pip install "addrl-graph[tensorboard]"') from e
        self.writer = SummaryWriter(str(log_dir))

    def on_epoch_end(self, row: dict[str, Any], state: RunState) -> None:
        for key, value in row.items():
            if key != 'epoch' and isinstance(value, (int, float)):
                tag = key.replace('valid_', 'valid/').replace('loss_', 'loss/')
                self.writer.add_scalar(tag, value, row['epoch'])
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()


class EpochHook(Callback):
    """The caller's ``fn(epoch, row)`` after the epoch's files are written; an exception it
    raises (e.g. :class:`optuna.TrialPruned`) stops training and propagates."""
    def __init__(self, fn: Callable[[int, dict[str, Any]], None]) -> None:
        self.fn = fn

    def on_epoch_end(self, row: dict[str, Any], state: RunState) -> None:
        self.fn(row['epoch'], row)
