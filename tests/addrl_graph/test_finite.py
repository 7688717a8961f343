"""Finite numbers end to end (issue 12, cases 3 and 6): configs refuse nan and inf, training
stops at the first non-finite loss keeping its last good epoch, and a control's xi is finite and
in range."""
from __future__ import annotations

import json
import math

import pytest
import torch

from addrl_graph.cli import main
from addrl_graph.errors import ConfigError, TrainingDiverged
from addrl_graph.explain import Explainer, recommend
from addrl_graph.nn.config import BaselineConfig, ModelConfig
from addrl_graph.nn.model import ADDRL
from addrl_graph.testing import paper_config, save_tiny_graph
from addrl_graph.training.runs import checkpoint_file
from addrl_graph.training.train import TrainConfig, train

pytestmark = pytest.mark.usefixtures('one_thread')


@pytest.mark.parametrize('make,field', [
    (lambda v: ModelConfig(alpha=v), 'alpha'), (lambda v: ModelConfig(l2=v), 'l2'),
    (lambda v: ModelConfig(tau=v), 'tau'), (lambda v: TrainConfig(lr=v), 'lr'),
    (lambda v: TrainConfig(max_minutes=v), 'max_minutes'),
    (lambda v: BaselineConfig(l2=v), 'l2')])
@pytest.mark.parametrize('value', [math.inf, math.nan, -math.inf])
def test_configs_refuse_non_finite_numbers(make, field, value):
    name = field.replace('_', '[-_]')
    with pytest.raises(ConfigError, match=rf'{name}.* finite .*\(got {value!r}\)'):
        make(value)


@pytest.mark.parametrize('key', ['lr', 'alpha'])
def test_the_command_line_refuses_inf_in_one_line(tmp_path, capsys, key):
    graph = save_tiny_graph(tmp_path / 'graph')
    config = tmp_path / 'config.yaml'
    config.write_text(f'{key}: .inf\n')                 # YAML's infinity reaches the config
    base = ['train', '--data', str(graph), '--out', str(tmp_path / 'run')]
    for extra in ([f'--{key}', 'inf'], ['--config', str(config)]):
        assert main(base + extra) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and key in err[0] and 'inf' in err[0], err
    assert not (tmp_path / 'run').exists()


def test_training_stops_at_the_first_non_finite_loss(tmp_path, monkeypatch):
    graph = save_tiny_graph(tmp_path / 'graph')
    forward, steps = ADDRL.forward, []

    def diverging(self, batch, graph):
        loss, terms = forward(self, batch, graph)
        steps.append(1)
        return (loss * math.nan if len(steps) > 3 else loss), terms

    monkeypatch.setattr(ADDRL, 'forward', diverging)
    run = tmp_path / 'run'
    with pytest.raises(TrainingDiverged, match='became nan at epoch 1'):
        train(graph, run, TrainConfig(epochs=5, batch_size=32), paper_config(d_chunk=4),
              progress=False)
    assert json.loads((run / 'best.json').read_text())['epoch'] == 0
    assert json.loads((run / 'last.json').read_text())['epoch'] == 0
    assert not (run / 'results.json').exists()
    state = torch.load(checkpoint_file(run, 'last'), weights_only=True)
    assert all(torch.isfinite(t).all() for t in state['model'].values())


def test_training_stops_at_the_first_non_finite_gradient(tmp_path, monkeypatch):
    """A finite loss whose backward gives NaN (here: a hook on the item embeddings from the
    fourth step on) stops training before the optimizer applies it."""
    graph = save_tiny_graph(tmp_path / 'graph')
    forward, steps = ADDRL.forward, []

    def poisoned(self, batch, graph):
        steps.append(1)
        table = self.id_encoder.item_embedding.weight
        if len(steps) > 3 and not getattr(table, '_poisoned', False):
            table.register_hook(lambda grad: grad * math.nan)
            table._poisoned = True
        return forward(self, batch, graph)

    monkeypatch.setattr(ADDRL, 'forward', poisoned)
    run = tmp_path / 'run'
    with pytest.raises(TrainingDiverged, match='gradient of id_encoder.item_embedding.weight '
                                               'became NaN or infinite at epoch 1'):
        train(graph, run, TrainConfig(epochs=5, batch_size=32), paper_config(d_chunk=4),
              progress=False)
    state = torch.load(checkpoint_file(run, 'last'), weights_only=True)
    assert state['epoch'] == 0
    assert all(torch.isfinite(t).all() for t in state['model'].values())


@pytest.fixture(scope='module')
def explainer(tmp_path_factory):
    root = tmp_path_factory.mktemp('finite')
    graph = save_tiny_graph(root / 'graph')
    train(graph, root / 'run', TrainConfig(epochs=1, batch_size=16), paper_config(d_chunk=4),
          progress=False)
    return Explainer.from_run(root / 'run')


@pytest.mark.parametrize('xi', [math.nan, math.inf, -math.inf, 1e308, 101.0])
def test_control_takes_finite_xi_in_range_only(explainer, xi):
    user = explainer.meta['users'][0]
    with pytest.raises(ConfigError, match=r"control of 'price' must be a finite xi in "
                                          r'\[-100, 100\]'):
        recommend(explainer, user, k=3, control={'price': xi})
    assert len(recommend(explainer, user, k=3, control={'price': -100.0})[user]) == 3
