"""Behaviour pinned across refactors: fixed-seed training runs on a committed tiny graph give the
validation and test metrics and the per-attribute terms recorded in ``tests/fixtures/pin``, and a
checkpoint written by an earlier format still loads.

``expected.json`` and ``run_v1/`` were written by this file's :func:`pinned_outcome` at the commit
named in ``expected.json`` (before the package was reorganised into subpackages); a refactor that
changes a number here changed behaviour.
"""
import json
from pathlib import Path

import pytest
import torch

from addrl_graph import load_graph
from addrl_graph.explain.explainer import Explainer
from addrl_graph.nn.config import ModelConfig
from addrl_graph.training.train import TrainConfig, train

PIN = Path(__file__).resolve().parents[1] / 'fixtures' / 'pin'
GRAPH = PIN / 'graph'
TINY = dict(d_chunk=8)
#: name -> (TrainConfig fields, ModelConfig fields)
CASES = {
    'addrl-lightgcn': (dict(model='addrl'), dict(TINY)),
    'addrl-embedding': (dict(model='addrl'), dict(TINY, id_encoder='embedding', free_chunks=2,
                                                  bpr_reduction='mean', bpr_negatives='each')),
    'addrl-sage-aware': (dict(model='addrl'), dict(TINY, id_encoder='sage', attribute_aware=True)),
    'addrl-gcn': (dict(model='addrl'), dict(TINY, id_encoder='gcn')),
    'addrl-sampled': (dict(model='addrl', num_neighbors=[3, 2]), dict(TINY)),
    'addrl-no-high': (dict(model='addrl'), dict(TINY, ablation='no-high', chunk_norm=True)),
    'bpr-mf': (dict(model='bpr-mf'), {}),
    'lightgcn': (dict(model='lightgcn'), {}),
    'vbpr': (dict(model='vbpr'), {}),
}
PAIRS = [(u, i) for u in range(0, 40, 7) for i in range(0, 30, 6)]


def pinned_outcome(name: str, run_dir: Path) -> dict:
    """Train case ``name`` (3 epochs, seed 0) and return its metrics and, for AD-DRL, the
    per-chunk terms of :data:`PAIRS`."""
    train_fields, model_fields = CASES[name]
    torch.set_num_threads(1)
    results = train(GRAPH, run_dir, TrainConfig(epochs=3, batch_size=16, seed=0, patience=5,
                                                **train_fields),
                    ModelConfig(**model_fields), progress=False)
    out = {'valid': results['valid'], 'test': results['test']}
    if train_fields['model'] == 'addrl':
        ex = Explainer.from_run(run_dir, data_dir=GRAPH)
        users, items = (torch.tensor(side) for side in zip(*PAIRS))
        out['terms'] = ex.pair_terms(users, items).tolist()
    return out


@pytest.mark.parametrize('name', sorted(CASES))
def test_training_reproduces_the_pinned_numbers(name, tmp_path):
    expected = json.loads((PIN / 'expected.json').read_text())['cases'][name]
    got = pinned_outcome(name, tmp_path / name)
    assert set(got['valid']) == set(expected['valid'])
    assert set(got['test']) >= set(expected['test'])  # test also reports newer metrics
    for split in ('valid', 'test'):
        for key, value in expected[split].items():
            assert got[split][key] == pytest.approx(value, abs=1e-5), (split, key)
    if 'terms' in expected:
        assert torch.allclose(torch.tensor(got['terms']), torch.tensor(expected['terms']),
                              atol=1e-5)


def test_a_checkpoint_of_the_first_format_still_loads():
    """``run_v1`` is the ``addrl-lightgcn`` case as saved before the redesign."""
    expected = json.loads((PIN / 'expected.json').read_text())['cases']['addrl-lightgcn']
    ex = Explainer.from_run(PIN / 'run_v1', data_dir=GRAPH)
    users, items = (torch.tensor(side) for side in zip(*PAIRS))
    assert torch.allclose(ex.pair_terms(users, items), torch.tensor(expected['terms']), atol=1e-5)
    data, _ = load_graph(GRAPH)
    assert data['user'].num_nodes == 40
