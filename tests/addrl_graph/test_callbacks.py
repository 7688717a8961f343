"""The trainer's callbacks: the TensorBoard writer records every epoch's numbers, and the run
state keeps the best epoch as the checkpoints do."""
from __future__ import annotations

import pytest
import torch

from addrl_graph.testing import paper_config, save_tiny_graph
from addrl_graph.training.callbacks import RunState
from addrl_graph.training.train import TrainConfig, train

pytestmark = pytest.mark.usefixtures('one_thread')


def test_run_state_tracks_the_best_epoch_and_patience():
    state = RunState()
    for epoch, score in enumerate([0.1, 0.3, 0.2, 0.3]):
        state.update(epoch, score)
    assert (state.best, state.best_epoch, state.stale, state.improved) == (0.3, 1, 2, False)
    assert state.to_dict() == {'epoch': 3, 'best': 0.3, 'best_epoch': 1, 'stale': 2}


def test_tensorboard_writer_records_losses_and_validation(tmp_path):
    event_accumulator = pytest.importorskip(
        'tensorboard.backend.event_processing.event_accumulator')
    graph = save_tiny_graph(tmp_path / 'graph')
    results = train(graph, tmp_path / 'run',
                    TrainConfig(epochs=3, batch_size=16, patience=5,
                                tensorboard=str(tmp_path / 'tb')),
                    paper_config(d_chunk=4), progress=False)
    events = event_accumulator.EventAccumulator(str(tmp_path / 'tb'))
    events.Reload()
    tags = events.Tags()['scalars']
    assert {'loss', 'loss/bpr', 'valid/recall@20', 'seconds'} <= set(tags)
    recall = events.Scalars('valid/recall@20')
    assert [e.step for e in recall] == [0, 1, 2]
    best = max(recall, key=lambda e: e.value)
    assert results['valid']['recall@20'] == pytest.approx(best.value)
    assert torch.isfinite(torch.tensor([e.value for e in events.Scalars('loss')])).all()
