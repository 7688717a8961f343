"""Train several models on one graph with the same budget and tabulate their metrics."""
from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Any

from addrl_graph.data.schema import load_graph
from addrl_graph.nn.config import ModelConfig
from addrl_graph.nn.registry import MODEL_NAMES
from addrl_graph.training.train import TrainConfig, train

logger = logging.getLogger(__name__)
TABLE_METRICS = ('recall@20', 'ndcg@20', 'precision@20', 'hit@20', 'recall@50', 'ndcg@50')


def compare(data_dir: str | Path, out_dir: str | Path, train_config: TrainConfig,
            model_config: ModelConfig, models: tuple[str, ...] = MODEL_NAMES,
            progress: bool = True) -> list[dict[str, Any]]:
    """Train each model in ``models`` into ``out_dir/<model>`` and return their results.

    Every model shares the budget (epochs, batch size, patience, time limit); the fields of
    ``train_config`` left at :obj:`None` (``lr``, ``num_neg``, baseline options) take each
    model's own tuned default (:data:`addrl_graph.nn.registry.MODEL_DEFAULTS`). The graph is
    loaded once for all of them.
    """
    loaded = load_graph(data_dir)
    results = []
    for name in models:
        config = dataclasses.replace(train_config, model=name)
        logger.info('training %s', name)
        results.append(train(data_dir, Path(out_dir) / name, config, model_config,
                             progress=progress, loaded=loaded))
    return results


def format_table(results: list[dict[str, Any]], split: str = 'test') -> str:
    """A fixed-width table: one row per model, the metrics of ``split`` plus epochs and seconds."""
    head = ['model', *TABLE_METRICS, 'best epoch', 's/epoch']
    rows = [[r['model'], *(f"{r[split][m]:.4f}" for m in TABLE_METRICS), str(r['best_epoch']),
             f"{r['seconds_per_epoch']:.1f}"] for r in results]
    widths = [max(len(str(x)) for x in col) for col in zip(head, *rows)]
    lines = ['  '.join(h.ljust(w) for h, w in zip(head, widths))]
    lines += ['  '.join(c.ljust(w) for c, w in zip(row, widths)) for row in rows]
    return '\n'.join(lines)


def markdown_report(results: list[dict[str, Any]], meta: dict[str, Any], data_line: str) -> str:
    """A short markdown report of a comparison: the data, the table, the chosen epochs."""
    stats = meta['stats']
    lines = ['# AD-DRL comparison', '', f'Data: {data_line}', '',
             f"{stats['users']:,} users, {stats['items']:,} items, "
             f"{stats['interactions']:,} interactions (sparsity {100 * stats['sparsity']:.2f}%); "
             f"attributes: " + ', '.join(f'{a} ({n})' for a, n in
                                         stats['values_per_attribute'].items()) + '.',
             f"Text features: {meta['text_encoder']['name']} ({stats['text_dim']}-d); image "
             f"features: {meta['image_encoder']['name']} ({stats['image_dim']}-d).", '',
             '## Test metrics (checkpoint chosen on validation Recall@20)', '', '```',
             format_table(results), '```', '']
    for r in results:
        lines.append(f"- {r['model']}: {r['epochs_run']} epochs, best epoch {r['best_epoch']}, "
                     f"validation recall@20 {r['valid']['recall@20']:.4f}")
    return '\n'.join(lines) + '\n'
