"""One page about a training run: metrics, comparison, the paper's figures, explained lists.

``python -m addrl_graph report --run RUN`` writes ``report.md`` and ``report.html`` (same
content, no extra dependency) and the PNG files they show into ``RUN/report/``.
"""
from __future__ import annotations

import html
import json
import logging
from pathlib import Path
from typing import Any

import torch

from addrl_graph.explain import viz
from addrl_graph.data.schema import TEST, split_edges
from addrl_graph.explain.explainer import Explainer, explain, recommend
from addrl_graph.io import atomic_write_bytes
from addrl_graph.data.catalog import cut
from addrl_graph.explain.studies import control_study, planted_recovery, study_table

log = logging.getLogger(__name__)

#: Characters of an item title in the report's tables (the item id stands beside it).
TITLE_WIDTH = 60

#: A report is a list of blocks: ``('h1' | 'h2' | 'p' | 'pre', text)``,
#: ``('table', head, rows)`` or ``('img', file name, caption)``.
Block = tuple


def _metrics_table(results: dict[str, Any]) -> Block:
    names = [m for m in results['test'] if m != 'num_users']
    return ('table', ['metric', 'validation', 'test'],
            [[m, f"{results['valid'].get(m, float('nan')):.4f}", f"{results['test'][m]:.4f}"]
             for m in names])


def _comparison(run_dir: Path) -> Block | None:
    """Fixed-width table of the sibling runs (folders of ``run_dir``'s parent with
    ``results.json``), named by folder."""
    from addrl_graph.training.compare_report import runs_table
    rows = [dict(json.loads(p.read_text()), model=p.parent.name)
            for p in sorted(run_dir.resolve().parent.glob('*/results.json'))]
    return ('pre', runs_table(rows)) if len(rows) > 1 else None


def _explained_users(ex: Explainer, num_users: int, seed: int) -> list[str]:
    """``num_users`` users with a test item, drawn with a seeded generator."""
    users = torch.unique(split_edges(ex.data, TEST)[0])
    gen = torch.Generator().manual_seed(seed)
    pick = users[torch.randperm(users.numel(), generator=gen)[:num_users]]
    return [ex.meta['users'][int(u)] for u in pick]


def ground_truth_of(meta: dict[str, Any]) -> Path | None:
    """The ``ground_truth.json`` beside the graph's review dump (synthetic data), if any."""
    for source in meta.get('sources', [])[:1]:
        path = Path(source['path']).parent / 'ground_truth.json'
        if path.is_file():
            return path
    return None


def _planted_blocks(ex: Explainer, path: Path) -> list[Block]:
    """Recovery of the synthetic dump's planted preferences from the per-attribute lifts."""
    result = planted_recovery(ex, json.loads(path.read_text()))
    rows = [[name, str(r['users']), f"{r['share']:.1%}", f"{r['share_raw']:.1%}"]
            for name, r in result['per_attribute'].items()]
    rows.append(['all', str(result['users']), f"{result['overall']:.1%}",
                 f"{result['overall_raw']:.1%}"])
    return [('h2', 'Planted preferences'),
            ('p', f'Users of the synthetic dump ({path}) whose largest mean attribute lift over '
                  'their test items (term minus the user\'s mean term over all items) is the '
                  f"attribute of their planted preference; chance {result['chance']:.0%}. "
                  'The last column ranks raw terms instead of lifts.'),
            ('table', ['planted attribute', 'users', 'recovered (lift)', 'recovered (raw term)'],
             rows)]


def _control_blocks(ex: Explainer, out_dir: Path) -> list[Block]:
    """Per attribute: the Fig. 5 plot and a table of the leaned-to value, the five most
    recommended others and the rest, per ξ."""
    blocks: list[Block] = [('h2', 'Controllability (paper Fig. 5)')]
    for attribute in ex.attribute_names:
        study = control_study(ex, attribute)
        name = f'control_{attribute}.png'
        viz.plot_control_study(study, out_dir / name)
        head, rows = study_table(study, width=24)
        blocks += [('img', name, f'{attribute}: share of {study.value!r} in the top-'
                    f'{study.k} per ξ ' + ', '.join(
                        f'{x:g}: {s:.1%}' for x, s in zip(study.xis, study.preferred_share))),
                   ('p', f'{len(study.users)} users leaning to {attribute} = {study.value} '
                         f'(first value column): share of each value in their top-{study.k}.'),
                   ('table', head, rows)]
    return blocks


def build_blocks(run_dir: Path, out_dir: Path, ex: Explainer, num_users: int = 3, k: int = 5,
                 max_points: int = 1000, seed: int = 0) -> list[Block]:
    """Compute every number and plot of the report; write the PNGs into ``out_dir``."""
    blocks: list[Block] = [('h1', f'AD-DRL run {run_dir.name}'),
                           ('p', f"Graph: {ex.meta.get('build_config', {}).get('out', '')} — "
                                 f"{len(ex.meta['users']):,} users, {ex.num_items:,} items; "
                                 f"attributes: {', '.join(ex.attribute_names)}.")]
    results_path = run_dir / 'results.json'
    if results_path.is_file():
        results = json.loads(results_path.read_text())
        blocks += [('h2', 'Metrics'), ('p', f"Best epoch {results['best_epoch']} of "
                                             f"{results['epochs_run']} (validation Recall@20)."),
                   _metrics_table(results)]
    comparison = _comparison(run_dir)
    if comparison is not None:
        blocks += [('h2', 'Comparison with sibling runs'), comparison]

    truth = ground_truth_of(ex.meta)
    if truth is not None:
        blocks += _planted_blocks(ex, truth)

    blocks.append(('h2', 'Disentangled chunks (paper Fig. 2 and 3)'))
    chunk_sil = viz.plot_chunk_tsne(ex, out_dir / 'chunks_tsne.png', max_points, seed)
    fused_sil = viz.plot_fused_tsne(ex, out_dir / 'fused_tsne.png', 5, max_points, seed)
    blocks += [('img', 'chunks_tsne.png', 'Chunk vectors by attribute; cosine silhouette: '
                + ', '.join(f'{n} {s:.3f}' for n, s in chunk_sil.items())),
               ('img', 'fused_tsne.png', 'Fused chunk of each attribute by value; silhouette: '
                + ', '.join(f'{n} {s:.3f}' for n, s in fused_sil.items()))]

    blocks += _control_blocks(ex, out_dir)

    blocks.append(('h2', 'Explained recommendations (paper Fig. 4)'))
    users = _explained_users(ex, num_users, seed)
    lists = recommend(ex, users, k=k)
    explanations = []
    for user in users:
        rows = []
        for r in lists[user]:
            e = explain(ex, user, r.item)
            if r.rank <= 2 and len(explanations) < 4:
                explanations.append(e)
            top = (f'{e.top_attribute} = {e.values[e.top_attribute]}' if e.top_attribute
                   else '-')
            rows.append([str(r.rank), r.item, cut(r.title or '-', TITLE_WIDTH), f'{r.score:.3f}',
                         top, ', '.join(f'{n} {t:.3f}' for n, t in r.terms.items())])
        blocks += [('p', f'User {user}:'),
                   ('table', ['rank', 'item', 'title', 'score', 'top attribute (value)',
                              'terms'], rows)]
    viz.plot_explanations(explanations, out_dir / 'explanations.png')
    blocks.append(('img', 'explanations.png', 'Per-attribute terms of user–item pairs'))
    return blocks


def _cell(text: str) -> str:
    """A markdown table cell: ``|`` (common in product titles) escaped."""
    return str(text).replace('|', '\\|')


def to_markdown(blocks: list[Block]) -> str:
    out = []
    for kind, *rest in blocks:
        if kind in ('h1', 'h2'):
            out.append(('#' if kind == 'h1' else '##') + ' ' + rest[0])
        elif kind == 'p':
            out.append(rest[0])
        elif kind == 'pre':
            out.append(f'```\n{rest[0]}\n```')
        elif kind == 'img':
            out.append(f'![{rest[1]}]({rest[0]})\n\n*{rest[1]}*')
        else:
            head, rows = rest
            out.append('\n'.join(['| ' + ' | '.join(map(_cell, head)) + ' |',
                                  '|' + '---|' * len(head)]
                                 + ['| ' + ' | '.join(map(_cell, r)) + ' |' for r in rows]))
    return '\n\n'.join(out) + '\n'


def to_html(blocks: list[Block]) -> str:
    e = html.escape
    out = ['<!doctype html><meta charset="utf-8"><title>AD-DRL report</title>',
           '<style>body{font-family:sans-serif;max-width:70em;margin:auto}'
           'td,th{border:1px solid #ccc;padding:2px 6px;font-size:90%}'
           'table{border-collapse:collapse}img{max-width:100%}</style>']
    for kind, *rest in blocks:
        if kind in ('h1', 'h2', 'p', 'pre'):
            out.append(f'<{kind}>{e(rest[0])}</{kind}>')
        elif kind == 'img':
            out.append(f'<figure><img src="{e(rest[0])}" alt="{e(rest[1])}">'
                       f'<figcaption>{e(rest[1])}</figcaption></figure>')
        else:
            head, rows = rest
            out.append('<table><tr>' + ''.join(f'<th>{e(h)}</th>' for h in head) + '</tr>'
                       + ''.join('<tr>' + ''.join(f'<td>{e(c)}</td>' for c in r) + '</tr>'
                                 for r in rows) + '</table>')
    return '\n'.join(out) + '\n'


def write_report(run_dir: str | Path, out_dir: str | Path | None = None,
                 explainer: Explainer | None = None, **options: Any) -> dict[str, Path]:
    """Write ``report.md``, ``report.html`` and their PNGs into ``out_dir``
    (default ``run_dir/report``); ``options`` go to :func:`build_blocks`. Returns the paths."""
    run_dir = Path(run_dir)
    out = Path(out_dir) if out_dir is not None else run_dir / 'report'
    ex = explainer or Explainer.from_run(run_dir)
    blocks = build_blocks(run_dir, out, ex, **options)
    paths = {'markdown': out / 'report.md', 'html': out / 'report.html'}
    atomic_write_bytes(paths['markdown'], to_markdown(blocks).encode())
    atomic_write_bytes(paths['html'], to_html(blocks).encode())
    log.info('wrote %s and %s', *paths.values())
    return paths
