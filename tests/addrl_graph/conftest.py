"""Session fixtures for the explanation, study and plot tests: two runs trained on the
synthetic ``small`` graph (AD-DRL, and AD-DRL without the intra and inter losses) in one
parent folder, so that the report finds a comparison."""
import json

import pytest

from addrl_graph.testing import small_preset_config

#: AD-DRL trains 50 epochs (~16 s on a quiet 2-core machine): its chunks need them to
#: separate the planted preferences (recovery 0.42 after 12 epochs, 0.64 after 50); the
#: ablation only needs to exist for the silhouette comparison.
ADDRL_EPOCHS, NO_HIGH_EPOCHS = 50, 4


@pytest.fixture(scope='session')
def runs_root(tmp_path_factory):
    return tmp_path_factory.mktemp('explain_runs')


def _train(graph_dir, run_dir, epochs, model_config):
    from addrl_graph.training.train import TrainConfig, train
    train(graph_dir, run_dir, TrainConfig(epochs=epochs, lr=1e-2, patience=epochs),
          model_config, progress=False)
    return run_dir


@pytest.fixture(scope='session')
def addrl_run(small_graph_dir, runs_root):
    """An AD-DRL run on the ``small`` graph (the configuration tuned on that preset)."""
    return _train(small_graph_dir, runs_root / 'addrl', ADDRL_EPOCHS, small_preset_config())


@pytest.fixture(scope='session')
def no_high_run(small_graph_dir, runs_root):
    """AD-DRL without the intra and inter losses (Table 3, w/o high)."""
    return _train(small_graph_dir, runs_root / 'no-high', NO_HIGH_EPOCHS,
                  small_preset_config(ablation='no-high'))


@pytest.fixture(scope='session')
def explainer(addrl_run):
    from addrl_graph.explain.explainer import Explainer
    return Explainer.from_run(addrl_run)


@pytest.fixture(scope='session')
def ground_truth(small_dump):
    return json.loads((small_dump / 'ground_truth.json').read_text())
