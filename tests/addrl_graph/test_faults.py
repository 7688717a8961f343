"""Runs killed with SIGKILL (mid-epoch, mid-checkpoint-write) resume to the uninterrupted result."""
import json
import subprocess
import sys
import textwrap

import pytest

from addrl_graph.training.train import TrainConfig, train

EPOCHS = 4
CONFIG = dict(epochs=EPOCHS, lr=1e-2, patience=10)

# A child process that trains and SIGKILLs itself at a chosen point.
KILLER = textwrap.dedent('''
    import os, signal, sys
    from pathlib import Path
    from addrl_graph.nn.model import ADDRL
    from addrl_graph.training.train import TrainConfig, train
    data, run, where, when = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    calls = {'n': 0}
    def count_and_maybe_die():
        calls['n'] += 1
        if calls['n'] == when:
            os.kill(os.getpid(), signal.SIGKILL)
    if where == 'batch':   # die in a training step (model(batch, graph) is the step's loss)
        real_forward = ADDRL.forward
        def forward(self, batch, graph):
            count_and_maybe_die()
            return real_forward(self, batch, graph)
        ADDRL.forward = forward
    else:   # die after the temp file of a checkpoint is written, before it replaces the old one
        real_replace = os.replace
        def replace(src, dst):
            if Path(dst).name.startswith('last.') and Path(dst).suffix == '.pt':
                count_and_maybe_die()
            return real_replace(src, dst)
        os.replace = replace
    train(data, run, TrainConfig(epochs=%d, lr=1e-2, patience=10), progress=False)
''' % EPOCHS)


@pytest.mark.parametrize('where, when', [('batch', 12), ('checkpoint', 3)])
def test_sigkill_then_resume_matches_uninterrupted(small_graph_dir, tmp_path, where, when):
    full = train(small_graph_dir, tmp_path / 'full', TrainConfig(**CONFIG), progress=False)
    run = tmp_path / 'killed'
    child = subprocess.run([sys.executable, '-c', KILLER, str(small_graph_dir), str(run), where,
                            str(when)], capture_output=True, text=True)
    assert child.returncode == -9, child.stderr           # it really was killed
    assert not (run / 'results.json').exists()
    assert json.loads((run / 'last.json').read_text())['epoch'] < EPOCHS - 1
    resumed = train(small_graph_dir, run, TrainConfig(**CONFIG), resume=True, progress=False)
    assert resumed['epochs_run'] == EPOCHS
    assert resumed['best_epoch'] == full['best_epoch']
    # same seed, same batches, same Adam state: equal up to float summation order (relative
    # for the raw mean degree of avg_popularity, which is in the tens)
    assert resumed['test'] == pytest.approx(full['test'], rel=1e-5, abs=1e-5)
