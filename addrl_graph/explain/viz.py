r"""The paper's figures for any AD-DRL run, as PNG files (matplotlib, Agg backend).

* :func:`plot_control_study`: Fig. 5, stacked shares of an attribute's values in the top-:math:`k`
  per :math:`\xi`, with the table beside the bars.
* :func:`plot_chunk_tsne`: Fig. 2, t-SNE of the chunk vectors of user ID, item ID, text and
  image, coloured by the chunk's attribute; :func:`chunk_silhouettes` scores the same grouping.
* :func:`plot_fused_tsne`: Fig. 3, t-SNE of each attribute's fused item chunk (Eq. 9),
  coloured by the item's value (the ``top_values`` most frequent known values).
* :func:`plot_explanations`: Fig. 4, the per-attribute terms (Eq. 11) of user–item pairs.

Silhouettes are computed on the chunk vectors themselves (cosine distance; the authors' chunks
are unit vectors), not on the 2-D t-SNE layout, so they do not depend on t-SNE's randomness.
t-SNE and the silhouettes use at most ``max_points`` points, drawn with a seeded generator.

Shapes legend: ``U`` users, ``I`` items, ``N`` points, ``K`` chunks, ``d`` chunk width.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from torch import Tensor

from addrl_graph.data.catalog import is_catch_all
from addrl_graph.explain.explainer import Explainer, Explanation
from addrl_graph.plotting import pyplot, save_figure
from addrl_graph.explain.studies import ControlStudy

log = logging.getLogger(__name__)

#: Most values drawn as their own bar segment in the control study; the rest are merged.
MAX_SEGMENTS = 8
VIEW_TITLES = {'user': 'User ID', 'id': 'Item ID', 'text': 'Text', 'image': 'Image'}


def _plain(text: str) -> str:
    """Escape ``$`` so that matplotlib does not read price ranges as math."""
    return str(text).replace('$', r'\$')


def _sample(n: int, max_points: int, seed: int) -> Tensor:
    """Sorted indices of at most ``max_points`` of ``n`` rows, seeded."""
    if n <= max_points:
        return torch.arange(n)
    gen = torch.Generator().manual_seed(seed)
    return torch.randperm(n, generator=gen)[:max_points].sort().values


def _silhouette(x: Tensor, labels: Tensor) -> float:
    """Cosine silhouette of ``[N, d]`` points; NaN with fewer than two groups."""
    from sklearn.metrics import silhouette_score
    from threadpoolctl import threadpool_limits
    if torch.unique(labels).numel() < 2 or x.size(0) < 3:
        return float('nan')
    with threadpool_limits(1):
        return float(silhouette_score(x.numpy(), labels.numpy(), metric='cosine'))


def _tsne(x: Tensor, seed: int) -> np.ndarray:
    """2-D t-SNE (cosine) of ``[N, d]`` points. One OpenMP thread: next to torch's thread pool
    in the same process, sklearn's threads spin and a 300-point layout took 26 s instead of
    1.7 s on 2 cores."""
    from sklearn.manifold import TSNE
    from threadpoolctl import threadpool_limits
    perplexity = float(min(30, max(2, (x.size(0) - 1) // 3)))
    with threadpool_limits(1):
        return TSNE(n_components=2, perplexity=perplexity, init='pca', random_state=seed,
                    metric='cosine').fit_transform(x.numpy())


def _scatter(ax, xy: np.ndarray, labels: Tensor, names: list[str], title: str) -> None:
    import matplotlib
    cmap = matplotlib.colormaps['tab10']
    for j, name in enumerate(names):
        keep = (labels == j).numpy()
        ax.scatter(xy[keep, 0], xy[keep, 1], s=4, alpha=0.6, color=cmap(j % 10),
                   label=_plain(name))
    ax.set_title(_plain(title), fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])


def _panels(panels: list[tuple[str, Tensor, Tensor, list[str]]], path: str | Path, seed: int,
            shared_legend: bool) -> dict[str, float]:
    """t-SNE + silhouette of every ``(title, x [N, d], labels [N], label names)`` panel."""
    plt = pyplot()
    cols = min(4, len(panels))
    rows = -(-len(panels) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.4 * cols, 3.4 * rows + 0.6), squeeze=False)
    scores = {}
    for ax, (title, x, labels, names) in zip(axes.flat, panels):
        scores[title] = _silhouette(x, labels)
        _scatter(ax, _tsne(x, seed), labels, names, f'{title}\nsilhouette {scores[title]:.3f}')
        if not shared_legend:
            ax.legend(fontsize=6, markerscale=2, loc='best')
    for ax in list(axes.flat)[len(panels):]:
        ax.axis('off')
    if shared_legend:
        handles, names = axes.flat[0].get_legend_handles_labels()
        fig.legend(handles, names, loc='lower center', ncol=len(names), markerscale=3,
                   fontsize=8)
    save_figure(fig, path)
    return scores


# ---------------------------------------------------------------------- Fig. 2
@torch.no_grad()
def chunk_views(ex: Explainer) -> dict[str, Tensor]:
    """Chunk vectors of every view: ``user`` ``[U, K, d]``, ``id`` ``[I, K, d]``, and ``text`` /
    ``image`` ``[I', K, d]`` for the items that have the view (views the model lacks are
    left out)."""
    users, chunks = ex.model.chunks(ex.graph)
    views = {'user': users, 'id': chunks.id}
    for j, name in ((1, 'text'), (2, 'image')):
        view = getattr(chunks, name)
        if view is not None:
            views[name] = view[chunks.present[:, j]]
    return {name: v.cpu() for name, v in views.items()}


def _chunk_points(views: Tensor, max_points: int, seed: int) -> tuple[Tensor, Tensor]:
    """Rows of ``[N, K, d]`` sampled so that ``N' * K <= max_points``, flattened to
    ``([N' * K, d], chunk labels [N' * K])``."""
    n, k, d = views.shape
    rows = _sample(n, max(1, max_points // k), seed)
    return views[rows].reshape(-1, d), torch.arange(k).repeat(rows.numel())


def chunk_silhouettes(ex: Explainer, max_points: int = 2000, seed: int = 0) -> dict[str, float]:
    """Cosine silhouette of each view's chunk vectors grouped by chunk (attribute), the number
    behind Fig. 2: near 1 when chunks of different attributes occupy separate regions, near 0
    when they mix."""
    return {name: _silhouette(*_chunk_points(v, max_points, seed))
            for name, v in chunk_views(ex).items()}


def plot_chunk_tsne(ex: Explainer, path: str | Path, max_points: int = 2000,
                    seed: int = 0) -> dict[str, float]:
    """Fig. 2: t-SNE of the chunk vectors of user ID, item ID, text and image, one colour per
    attribute (and ``others``). Returns the silhouette of each panel, keyed by its title."""
    panels = [(VIEW_TITLES[name], *_chunk_points(v, max_points, seed), ex.chunk_names)
              for name, v in chunk_views(ex).items()]
    return _panels(panels, path, seed, shared_legend=True)


# ---------------------------------------------------------------------- Fig. 3
def fused_points(ex: Explainer, attribute: int, top_values: int = 5, max_points: int = 2000,
                 seed: int = 0) -> tuple[Tensor, Tensor, list[str]]:
    """Fused chunk of ``attribute`` (Eq. 9) of the items whose value is one of the
    ``top_values`` most frequent known values: ``([N, d], value labels [N], value names)``."""
    names = [str(v) for v in ex.meta['attributes'][attribute]['values']]
    column = ex.data['item'].attr[:, attribute]
    counts = torch.bincount(column, minlength=len(names))
    known = [j for j in torch.argsort(counts, descending=True, stable=True).tolist()
             if not is_catch_all(names[j]) and counts[j] > 0][:top_values]
    rows = torch.nonzero(torch.isin(column, torch.tensor(known))).flatten()
    rows = rows[_sample(rows.numel(), max_points, seed)]
    relabel = torch.full((len(names),), -1, dtype=torch.long)
    relabel[torch.tensor(known)] = torch.arange(len(known))
    return ex.tables.item[rows, attribute].cpu(), relabel[column[rows]], [names[j] for j in known]


def plot_fused_tsne(ex: Explainer, path: str | Path, top_values: int = 5,
                    max_points: int = 2000, seed: int = 0) -> dict[str, float]:
    """Fig. 3: per attribute, t-SNE of the items' fused chunk of that attribute coloured by
    value (top ``top_values`` values by item count). Returns the silhouette per attribute."""
    panels = [(name, *fused_points(ex, a, top_values, max_points, seed))
              for a, name in enumerate(ex.attribute_names)]
    return _panels(panels, path, seed, shared_legend=False)


# ---------------------------------------------------------------------- Fig. 4
def plot_explanations(explanations: Sequence[Explanation], path: str | Path) -> Path:
    """Fig. 4: one panel per user–item pair, two bars per chunk, its term :math:`s(u, i, k)`
    and its lift over the user's average item, labelled with the item's value of that
    attribute; the top attribute's bars are highlighted."""
    plt = pyplot()
    cols = min(2, len(explanations))
    rows = -(-len(explanations) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(5.2 * cols, 0.45 * rows * 8), squeeze=False)
    for ax, e in zip(axes.flat, explanations):
        names = list(e.terms)
        labels = [_plain(f'{n}: {e.values[n]}' if n in e.values else n) for n in names]
        y = np.arange(len(names))
        top = [n == e.top_attribute for n in names]
        ax.barh(y - 0.2, list(e.terms.values()), height=0.4, label='term',
                color=['tab:orange' if t else 'tab:blue' for t in top])
        ax.barh(y + 0.2, list(e.lift.values()), height=0.4, label='lift',
                color=['tab:red' if t else 'tab:cyan' for t in top])
        ax.axvline(0, color='black', linewidth=0.5)
        ax.set_yticks(y, labels, fontsize=7)
        ax.invert_yaxis()
        ax.set_xlabel('term s(u, i, k) (upper bar) and lift over the user\'s mean (lower bar)',
                      fontsize=7)
        ax.set_title(f'user {e.user} - item {e.item}\nscore {e.score:.3f}, '
                     f'top: {e.top_attribute}', fontsize=8)
    for ax in list(axes.flat)[len(explanations):]:
        ax.axis('off')
    fig.tight_layout()
    return save_figure(fig, path)


# ---------------------------------------------------------------------- Fig. 5
def _segments(study: ControlStudy) -> tuple[list[str], np.ndarray]:
    """Value names and ``[X, S]`` shares, keeping the study's value and the most recommended
    others (:meth:`ControlStudy.summary`); the rest are merged into ``rest (n values)``."""
    names, shares, rest = study.summary(MAX_SEGMENTS - 2 if len(study.values) > MAX_SEGMENTS
                                        else len(study.values))
    return names + ([f'rest ({rest} values)'] if rest else []), np.asarray(shares)


def plot_control_study(study: ControlStudy, path: str | Path) -> Path:
    """Fig. 5: stacked bars of the share of each value among the top-``k`` for each
    :math:`\\xi`, with the same numbers as a table beside them."""
    import matplotlib
    plt = pyplot()
    names, shares = _segments(study)
    fig, (ax, tab) = plt.subplots(1, 2, figsize=(11, 4.2), width_ratios=(1, 1.2))
    cmap = matplotlib.colormaps['tab10']
    bottom = np.zeros(len(study.xis))
    labels = [f'ξ={x:g}' for x in study.xis]
    for j, name in enumerate(names):
        hatch = '//' if name == study.value else None
        ax.bar(labels, shares[:, j], bottom=bottom, color=cmap(j % 10), label=_plain(name),
               hatch=hatch)
        bottom += shares[:, j]
    ax.set_ylim(0, 1)
    ax.set_ylabel(f'share of top-{study.k}')
    ax.set_title(_plain(f'{len(study.users)} users leaning to {study.attribute} = '
                        f'{study.value}'), fontsize=9)
    ax.legend(fontsize=7, loc='upper left', bbox_to_anchor=(0, -0.08), ncol=3)
    tab.axis('off')
    cells = [[f'{100 * s:.1f}%' for s in shares[:, j]] for j in range(len(names))]
    # the row labels sit left of the bbox, inside the table's own axes
    table = tab.table(cellText=cells, rowLabels=[_plain(n) for n in names], colLabels=labels,
                      bbox=(0.3, 0.15, 0.7, 0.7))
    table.auto_set_font_size(False)
    table.set_fontsize(7)
    return save_figure(fig, path)
