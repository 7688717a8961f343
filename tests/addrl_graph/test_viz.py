"""Figures: chunk silhouettes beat the model without high-level losses; PNGs and the report."""
import logging
import os
from pathlib import Path

import pytest

from addrl_graph.explain import viz
from addrl_graph.explain.explainer import Explainer, explain
from addrl_graph.explain.report import write_report
from addrl_graph.explain.studies import control_study

log = logging.getLogger(__name__)
POINTS = 300


@pytest.fixture
def png_dir(tmp_path):
    """``ADDRL_PLOT_DIR`` keeps the pictures for a look; a temporary folder otherwise."""
    keep = os.environ.get('ADDRL_PLOT_DIR')
    return Path(keep) if keep else tmp_path


def _nontrivial(path):
    assert Path(path).is_file() and Path(path).stat().st_size > 10_000


def test_chunk_silhouette_beats_no_high(explainer, no_high_run):
    with_high = viz.chunk_silhouettes(explainer)
    without = viz.chunk_silhouettes(Explainer.from_run(no_high_run))
    log.warning('chunk silhouettes: AD-DRL %s, w/o intra+inter %s', with_high, without)
    assert set(with_high) == set(without) == {'user', 'id', 'text', 'image'}
    for view in with_high:
        assert with_high[view] > without[view] + 0.25, view
    assert sum(with_high.values()) / 4 > 0.6


def test_tsne_plots(explainer, png_dir):
    chunks = viz.plot_chunk_tsne(explainer, png_dir / 'chunks_tsne.png', max_points=POINTS)
    assert set(chunks) == {'User ID', 'Item ID', 'Text', 'Image'}
    _nontrivial(png_dir / 'chunks_tsne.png')
    fused = viz.plot_fused_tsne(explainer, png_dir / 'fused_tsne.png', max_points=POINTS)
    assert set(fused) == set(explainer.attribute_names)
    assert all(-1 <= s <= 1 for s in fused.values())
    _nontrivial(png_dir / 'fused_tsne.png')


def test_fused_points_keep_top_known_values(explainer):
    a = explainer.attribute_names.index('brand')
    x, labels, names = viz.fused_points(explainer, a, top_values=5, max_points=10_000)
    assert len(names) == 5 and 'unknown' not in names
    assert x.shape == (labels.numel(), explainer.model.d_chunk) and labels.max() == 4


def test_control_and_explanation_plots(explainer, png_dir):
    viz.plot_control_study(control_study(explainer, 'price'), png_dir / 'control_price.png')
    _nontrivial(png_dir / 'control_price.png')
    study = control_study(explainer, 'brand')  # 41 values: 7 kept, 34 merged into the rest
    names, shares = viz._segments(study)
    assert len(names) == viz.MAX_SEGMENTS
    assert names[-1] == f'rest ({len(study.values) - viz.MAX_SEGMENTS + 1} values)'
    assert shares.sum(1) == pytest.approx([1.0] * len(study.xis), abs=1e-5)
    viz.plot_control_study(study, png_dir / 'control_brand.png')
    _nontrivial(png_dir / 'control_brand.png')
    users, items = explainer.meta['users'][:2], explainer.meta['items'][:2]
    viz.plot_explanations([explain(explainer, u, i) for u in users for i in items],
                          png_dir / 'explanations.png')
    _nontrivial(png_dir / 'explanations.png')


def test_report(addrl_run, no_high_run, explainer, png_dir):
    paths = write_report(addrl_run, png_dir / 'report', explainer, max_points=200)
    md, page = paths['markdown'].read_text(), paths['html'].read_text()
    assert '## Metrics' in md and 'recall@20' in md
    assert '## Comparison with sibling runs' in md and 'no-high' in md
    for name in ('chunks_tsne.png', 'fused_tsne.png', 'control_price.png', 'explanations.png'):
        assert f']({name})' in md and f'src="{name}"' in page
        _nontrivial(png_dir / 'report' / name)
    assert md.count('| rank | item | title | score | top attribute (value) |') == 3
    titles = [explainer.catalog.label(i, 60) for i in range(explainer.num_items)]
    assert sum(f'| {t} |' in md for t in titles) >= 3         # the lists show titles
    # one control table per attribute: xi, the leaned-to value, 5 others, the rest
    assert md.count('| xi |') == 4 and md.count(' | rest (') >= 2
    assert 'leaning to brand = other ' not in md and ' = unknown (first' not in md
    # the synthetic dump's ground truth sits beside its reviews: the report scores recovery
    assert '## Planted preferences' in md and '| all | 600 |' in md
