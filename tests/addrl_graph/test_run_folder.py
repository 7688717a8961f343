"""A run folder is never mixed (issue 12, cases 1, 2, 4, 5 and 14): a lock per run folder,
checkpoints checked against their run, a checkpoint pair that survives SIGKILL at every write
step, and resumptions that may extend a run's limits and name every other difference."""
import json
import os
import shutil
import subprocess
import sys
import textwrap

import pytest

from addrl_graph.errors import CheckpointError, FolderLocked
from addrl_graph.locks import folder_lock
from addrl_graph.testing import paper_config, save_tiny_graph
from addrl_graph.training.runs import checkpoint_file, load_run_model
from addrl_graph.training.train import TrainConfig, train

EPOCHS = 3
CONFIG = dict(epochs=EPOCHS, batch_size=16, lr=1e-2, patience=10)


@pytest.fixture(scope='module')
def graph(tmp_path_factory):
    return save_tiny_graph(tmp_path_factory.mktemp('graph') / 'g', num_users=30, num_items=20,
                           per_user=6)


@pytest.fixture(scope='module')
def full(graph, tmp_path_factory):
    """The uninterrupted run every interrupted one must reach."""
    run = tmp_path_factory.mktemp('full') / 'run'
    return run, train(graph, run, TrainConfig(**CONFIG), paper_config(d_chunk=4), progress=False)


def test_a_held_run_folder_is_refused_naming_the_holder(graph, tmp_path):
    with folder_lock(tmp_path / 'run', 'run folder'):
        with pytest.raises(FolderLocked, match=f'in use by process {os.getpid()}'):
            train(graph, tmp_path / 'run', TrainConfig(**CONFIG), paper_config(d_chunk=4),
                  progress=False)
    assert not (tmp_path / 'run' / 'config.json').exists()


def test_two_trainings_on_one_folder_never_mix(graph, tmp_path):
    run = tmp_path / 'run'
    children = [subprocess.Popen([sys.executable, '-m', 'addrl_graph', '--quiet', 'train',
                                  '--data', str(graph), '--out', str(run), '--epochs', '3',
                                  '--batch-size', '16', '--d-chunk', '4', '--seed', str(seed)],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                for seed in (0, 7)]
    outcomes = [(child.wait(), child.stderr.read()) for child in children]
    assert sorted(code for code, _ in outcomes) == [0, 2], outcomes
    refused = next(err for code, err in outcomes if code == 2)
    assert 'in use by process' in refused or 'already holds a run' in refused
    seed = json.loads((run / 'config.json').read_text())['train']['seed']
    for name in ('best', 'last'):
        assert json.loads((run / f'{name}.json').read_text())['config']['train']['seed'] == seed
    load_run_model(run)


def test_a_checkpoint_from_another_run_is_refused(graph, tmp_path, full):
    other_graph = save_tiny_graph(tmp_path / 'other', num_users=30, num_items=20, per_user=6,
                                  seed=1)   # same sizes, another split
    other = tmp_path / 'other-run'
    train(other_graph, other, TrainConfig(epochs=1, batch_size=16), paper_config(d_chunk=4),
          progress=False)
    run = tmp_path / 'run'
    shutil.copytree(full[0], run)
    for path in run.glob('best*'):
        path.unlink()
    shutil.copy(other / 'best.json', run)
    shutil.copy(checkpoint_file(other, 'best'), run)
    with pytest.raises(CheckpointError, match='written by another run than its config.json: '
                                              'graph_sha256: checkpoint'):
        load_run_model(run)


def test_resume_may_extend_the_limits_and_names_every_other_difference(graph, tmp_path, full):
    run = tmp_path / 'run'
    train(graph, run, TrainConfig(**dict(CONFIG, epochs=2)), paper_config(d_chunk=4),
          progress=False)
    with pytest.raises(CheckpointError) as error:
        train(graph, run, TrainConfig(**dict(CONFIG, lr=0.05, batch_size=8)),
              paper_config(d_chunk=4), resume=True, progress=False)
    assert 'train.batch_size: checkpoint 16, now 8; train.lr: checkpoint 0.01, now 0.05' in str(
        error.value)
    extended = train(graph, run, TrainConfig(**dict(CONFIG, patience=20, max_minutes=60)),
                     paper_config(d_chunk=4), resume=True, progress=False)
    assert extended['epochs_run'] == EPOCHS
    assert extended['test'] == pytest.approx(full[1]['test'], rel=1e-5, abs=1e-6)


def test_resuming_a_finished_run_does_not_read_the_test_split_again(graph, tmp_path, full,
                                                                    monkeypatch):
    import addrl_graph.training.train as train_module

    run = tmp_path / 'run'
    shutil.copytree(full[0], run)
    monkeypatch.setattr(train_module, 'finish', lambda *a, **k: pytest.fail('test read again'))
    again = train(graph, run, TrainConfig(**CONFIG), paper_config(d_chunk=4), resume=True,
                  progress=False)
    assert again == full[1]


# A child that trains and SIGKILLs itself at write step `when` of the checkpoints of epoch 1
# (each fsync, replace and unlink of a file in the run folder is a step), or counts the steps.
KILLER = textwrap.dedent('''
    import os, pathlib, signal, sys
    from addrl_graph.testing import paper_config
    from addrl_graph.training import callbacks
    from addrl_graph.training.train import TrainConfig, train
    graph, run, when = sys.argv[1], sys.argv[2], int(sys.argv[3])
    steps = {'n': 0, 'on': False}
    def step(real):
        def wrapped(*args, **kwargs):
            if steps['on']:
                steps['n'] += 1
                if steps['n'] == when:
                    os.kill(os.getpid(), signal.SIGKILL)
            return real(*args, **kwargs)
        return wrapped
    os.fsync, os.replace = step(os.fsync), step(os.replace)
    pathlib.Path.unlink = step(pathlib.Path.unlink)
    real_end = callbacks.Checkpointer.on_epoch_end
    def on_epoch_end(self, row, state):
        steps['on'] = state.epoch == 1
        real_end(self, row, state)
        steps['on'] = False
    callbacks.Checkpointer.on_epoch_end = on_epoch_end
    train(graph, run, TrainConfig(**%r), paper_config(d_chunk=4), progress=False)
    print(steps['n'])
''' % CONFIG)


def _child(graph, run, when):
    return subprocess.run([sys.executable, '-c', KILLER, str(graph), str(run), str(when)],
                          capture_output=True, text=True)


def test_sigkill_at_every_checkpoint_write_step_then_resume_matches(graph, tmp_path, full):
    counted = _child(graph, tmp_path / 'count', 0)
    assert counted.returncode == 0, counted.stderr
    num_steps = int(counted.stdout.split()[-1])
    assert num_steps >= 5  # weights fsync + replace, manifest fsync + replace, old file unlinked
    for when in range(1, num_steps + 1):
        run = tmp_path / f'killed-{when}'
        child = _child(graph, run, when)
        assert child.returncode == -9, child.stderr
        resumed = train(graph, run, TrainConfig(**CONFIG), paper_config(d_chunk=4), resume=True,
                        progress=False)
        assert resumed['epochs_run'] == EPOCHS, when
        assert resumed['best_epoch'] == full[1]['best_epoch'], when
        assert resumed['test'] == pytest.approx(full[1]['test'], rel=1e-5, abs=1e-6), when
