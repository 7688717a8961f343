"""What a run does once and what it does per epoch: the graph is loaded once per run and once
per comparison, the training loader is built once and reseeded per epoch (to the batches a
fresh loader would give), and checkpoints name their format version."""
from __future__ import annotations

import json

import pytest
import torch

from addrl_graph.errors import CheckpointError
from addrl_graph.loader.link_loader import make_train_loader
from addrl_graph.testing import paper_config, save_tiny_graph
from addrl_graph.training import compare as compare_module
from addrl_graph.training import train as train_module
from addrl_graph.training.runs import checkpoint_file, load_run_model
from addrl_graph.training.train import TrainConfig, train

pytestmark = pytest.mark.usefixtures('one_thread')


def batches(loader) -> list[tuple[list[int], list[int]]]:
    return [(b.user_id.tolist(), b.neg_index.flatten().tolist()) for b in loader]


@pytest.mark.parametrize('num_neighbors', [None, [2, 2]])
def test_a_reseeded_loader_gives_the_batches_of_a_fresh_one(tiny_graph, num_neighbors):
    data, _ = tiny_graph
    options = dict(batch_size=8, num_neg=3, num_neighbors=num_neighbors)
    loader = make_train_loader(data, seed=0, **options)
    first = batches(loader)
    for seed in (5, 0):
        loader.reseed(seed)
        assert batches(loader) == batches(make_train_loader(data, seed=seed, **options))
    assert batches(loader) != first or len(first) == 0  # a pass without reseeding moves on
    loader.reseed(0)
    assert batches(loader) == first


def test_the_graph_is_loaded_once_per_run_and_once_per_comparison(tmp_path, monkeypatch):
    graph = save_tiny_graph(tmp_path / 'graph')
    calls = []
    for module in (train_module, compare_module):
        original = module.load_graph
        monkeypatch.setattr(module, 'load_graph',
                            lambda *a, _f=original, **k: calls.append(a) or _f(*a, **k))
    budget = TrainConfig(epochs=2, batch_size=16)
    train(graph, tmp_path / 'one', budget, paper_config(d_chunk=4), progress=False)
    assert len(calls) == 1
    calls.clear()
    summary = compare_module.compare(graph, tmp_path / 'all', budget, paper_config(d_chunk=4),
                                     models=('addrl', 'bpr-mf', 'lightgcn'), progress=False)
    assert len(calls) == 1 and [r['name'] for r in summary['rows']] == ['addrl', 'bpr-mf',
                                                                          'lightgcn']


def test_a_checkpoint_of_an_unknown_format_is_refused_by_name(tmp_path):
    graph = save_tiny_graph(tmp_path / 'graph')
    run = tmp_path / 'run'
    train(graph, run, TrainConfig(epochs=1, batch_size=16), paper_config(d_chunk=4),
          progress=False)
    sidecar = run / 'best.json'
    info = json.loads(sidecar.read_text())
    assert info['format_version'] == 2
    sidecar.write_text(json.dumps({**info, 'format_version': 7}))
    with pytest.raises(CheckpointError, match='format version 7'):
        load_run_model(run)
    assert torch.load(checkpoint_file(run, 'best'), weights_only=True)['epoch'] == 0
