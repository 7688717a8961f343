"""The table of a comparison, from its run folders alone: mean ± std over seeds, paired tests.

:func:`summarize` reads every ``<out>/<entry>/seed-<s>`` (``results.json`` and the users' test
metrics ``test_per_user.pt``), so a table is recomputed without training. For each entry but
the reference (AD-DRL) it runs the paired t-test and the Wilcoxon signed-rank test
(:mod:`addrl_graph.metrics.significance`) on the users' test Recall@20 and NDCG@20, each user's
metric first averaged over the seeds (the paired unit is the user). :func:`write_report` writes
``compare.json`` and ``compare.md``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from addrl_graph.errors import CheckpointError
from addrl_graph.io import atomic_write_bytes, atomic_write_json, load_tensors, read_json
from addrl_graph.metrics.per_user import UserMetrics
from addrl_graph.metrics.significance import (ALPHA, mean_std, paired_tests, pool_seeds,
                                              seed_summary)

#: The metrics of the table (``@k``), and those the paired tests are run on.
TABLE_METRICS = ('recall@10', 'recall@20', 'recall@50', 'ndcg@10', 'ndcg@20', 'ndcg@50',
                 'mrr@20', 'map@20', 'coverage@20', 'diversity@20', 'avg_popularity@20')
TESTED_METRICS = ('recall@20', 'ndcg@20')
PAIRING = 'per-user metric averaged over the seeds, then paired by user'


def _seed_runs(out_dir: Path, entry: str, seeds: tuple[int, ...]) -> list[Path]:
    runs = [out_dir / entry / f'seed-{s}' for s in seeds]
    missing = [str(r) for r in runs if not (r / 'results.json').is_file()]
    if missing:
        raise CheckpointError(f'no finished run in {", ".join(missing)}: train it first')
    return runs


def _plain(mean_and_std: tuple[float, float]) -> list[float | None]:
    """``[mean, std]`` with the std of a single seed (nan) as :obj:`None`, for JSON."""
    mean, std = mean_and_std
    return [mean, None if std != std else std]


def summarize(out_dir: str | Path, entries: list[str], seeds: tuple[int, ...],
              reference: str) -> dict[str, Any]:
    """The comparison of ``entries`` over ``seeds`` in ``out_dir``, as plain values.

    Returns:
        ``{'reference', 'seeds', 'pairing', 'alpha', 'rows': [{'name', 'model', 'test':
        {metric: [mean, std]}, 'valid_recall@20': [mean, std], 'best_epoch': [...],
        'epochs_run': [...], 'seconds_per_epoch', 'paired': {metric: {'t': ...,
        'wilcoxon': ...}}}]}``;
        the reference row has no ``paired``.
    """
    out_dir = Path(out_dir)
    per_user: dict[str, dict[str, Any]] = {}
    rows = []
    for entry in entries:
        runs = _seed_runs(out_dir, entry, seeds)
        results = [read_json(run / 'results.json', CheckpointError) for run in runs]
        users = [UserMetrics.from_dict(load_tensors(run / 'test_per_user.pt', CheckpointError))
                 for run in runs]
        per_user[entry] = {m: pool_seeds([u[m].numpy() for u in users]) for m in TESTED_METRICS}
        epochs = [r['seconds_per_epoch'] for r in results if r.get('seconds_per_epoch')]
        rows.append({'name': entry, 'model': results[0]['model'],
                     'test': {k: _plain(v) for k, v in
                              seed_summary([r['test'] for r in results]).items()},
                     'valid_recall@20': _plain(mean_std([r['valid']['recall@20']
                                                         for r in results])),
                     'best_epoch': [r['best_epoch'] for r in results],
                     'epochs_run': [r.get('epochs_run') for r in results],
                     'seconds_per_epoch': sum(epochs) / len(epochs) if epochs else None})
    if reference in per_user:
        for row in rows:
            if row['name'] != reference:
                row['paired'] = {m: {name: test.to_dict() for name, test in paired_tests(
                    per_user[reference][m], per_user[row['name']][m]).items()}
                    for m in TESTED_METRICS}
    return {'reference': reference, 'seeds': list(seeds), 'pairing': PAIRING, 'alpha': ALPHA,
            'rows': rows}


def _cell(row: dict[str, Any], metric: str) -> str:
    mean, std = row['test'].get(metric, (None, None))
    if mean is None:
        return '–'
    digits = 1 if metric.startswith('avg_popularity') else 4
    return f'{mean:.{digits}f}' + ('' if std is None else f' ± {std:.{digits}f}')


#: Short column names of the table.
LABELS = {'recall': 'R', 'ndcg': 'N', 'mrr': 'MRR', 'map': 'MAP', 'coverage': 'Cov',
          'diversity': 'Div', 'avg_popularity': 'Pop'}


def _label(metric: str) -> str:
    name, k = metric.split('@')
    return f'{LABELS[name]}@{k}'


def _paired_cells(row: dict[str, Any], metric: str) -> list[str]:
    """Δ (reference − row, over users), and the t-test's and Wilcoxon's p-values."""
    if 'paired' not in row:
        return ['ref.', '', '']
    t, wilcoxon = row['paired'][metric]['t'], row['paired'][metric]['wilcoxon']
    return [f"{t['mean_diff']:+.4f}",
            *(f"{r['p_value']:.2g}" + ('*' if r['significant'] else '') for r in (t, wilcoxon))]


def format_table(summary: dict[str, Any]) -> str:
    """The comparison as a markdown table: mean ± std of :data:`TABLE_METRICS`, then for each
    of :data:`TESTED_METRICS` the mean per-user difference of the reference minus the row and
    the p-values of the paired t-test and the Wilcoxon test (``*``: p < α), and per seed the
    best epoch (counted from 0) and the number of epochs run."""
    head = ['model', *map(_label, TABLE_METRICS),
            *(f'{h} {_label(m)}' for m in TESTED_METRICS for h in ('Δ', 'p t', 'p W')),
            'best epoch / epochs run']
    lines = ['| ' + ' | '.join(head) + ' |', '|' + '---|' * len(head)]
    for row in summary['rows']:
        cells = [row['name'], *(_cell(row, m) for m in TABLE_METRICS),
                 *(c for m in TESTED_METRICS for c in _paired_cells(row, m)),
                 ', '.join(f'{best} / {run if run is not None else "?"}'
                           for best, run in zip(row['best_epoch'], row['epochs_run']))]
        lines.append('| ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines)


def runs_table(results: list[dict[str, Any]], split: str = 'test') -> str:
    """A fixed-width table of single runs (``results.json`` contents with a ``model`` name):
    :data:`TESTED_METRICS` and @50 of ``split``, best epoch and seconds per epoch."""
    metrics = (*TESTED_METRICS, 'recall@50', 'ndcg@50')
    head = ['model', *metrics, 'best epoch', 's/epoch']
    rows = [[r['model'], *(f"{r[split][m]:.4f}" for m in metrics), str(r['best_epoch']),
             f"{r['seconds_per_epoch'] or 0:.1f}"] for r in results]
    widths = [max(len(str(x)) for x in col) for col in zip(head, *rows)]
    return '\n'.join('  '.join(c.ljust(w) for c, w in zip(row, widths)) for row in [head, *rows])


def _graph_line(stats: Any) -> list[str]:
    """The graph's sizes from ``meta.json``'s ``stats`` (nothing if a hand edit broke them)."""
    try:
        return [f"{stats['users']:,} users, {stats['items']:,} items, "
                f"{stats['interactions']:,} interactions (sparsity "
                f"{100 * stats['sparsity']:.2f}%); attributes: "
                + ', '.join(f'{a} ({n})' for a, n in stats['values_per_attribute'].items())
                + '.', '']
    except (KeyError, TypeError, ValueError, AttributeError):
        return []


def markdown_report(summary: dict[str, Any], meta: dict[str, Any], data_line: str = '') -> str:
    """``compare.md``: the data, the table, how the tests paired the users."""
    seeds = ', '.join(map(str, summary['seeds']))
    lines = ['# AD-DRL comparison', '']
    if data_line:
        lines += [f'Data: {data_line}', '']
    lines += [*_graph_line(meta.get('stats')), f'## Test metrics, mean ± sample std over seeds {seeds}', '',
              'Each run chose its checkpoint on validation Recall@20 and read the test split '
              f"once. p-values: {summary['reference']} against each row on the users' test "
              f"Recall@20 and NDCG@20 ({summary['pairing']}); paired t-test and Wilcoxon "
              f"signed-rank, two-sided; * marks p < {summary['alpha']}; Δ is the mean per-user "
              f"difference {summary['reference']} − row (positive: {summary['reference']} ahead). "
              'R recall, N NDCG, Cov catalogue coverage, Div category diversity (intra-list), '
              'Pop the mean training degree of the recommended items.', '',
              format_table(summary), '']
    return '\n'.join(lines)


def write_report(out_dir: str | Path, summary: dict[str, Any], meta: dict[str, Any],
                 data_line: str = '') -> None:
    """``<out>/compare.json`` (the summary) and ``<out>/compare.md``."""
    atomic_write_json(Path(out_dir) / 'compare.json', summary)
    atomic_write_bytes(Path(out_dir) / 'compare.md',
                       markdown_report(summary, meta, data_line).encode())
