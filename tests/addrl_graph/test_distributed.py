"""Data-parallel training: edge sharding, and 2 CPU processes with gloo against one process
(exact gradient parity on a split batch; end-to-end training within a tolerance)."""
from __future__ import annotations

import datetime
import json
import os
import socket
import time

import pytest
import torch
import torch.multiprocessing as mp

from addrl_graph.nn.config import ModelConfig
from addrl_graph.data.schema import TRAIN, load_graph, split_edges
from addrl_graph.data.train_graph import TrainGraph
from addrl_graph.distributed import DistContext, shard_indices
from addrl_graph.loader.link_loader import make_train_loader
from addrl_graph.training.train import TrainConfig, train

from addrl_graph.testing import save_tiny_graph

pytestmark = pytest.mark.usefixtures('one_thread')
# summed BPR: each rank's sum is scaled by W so that DDP's average is the global batch's sum
MODEL = dict(d_chunk=8, id_encoder='lightgcn', encoder_layers=1, bpr_reduction='sum')
TRAINING = dict(epochs=8, batch_size=64, lr=1e-2, num_neg=2, patience=8, seed=0)


def test_shard_indices_partition_the_permutation():
    shards = [shard_indices(10, r, 3, seed=5) for r in range(3)]
    assert [s.numel() for s in shards] == [4, 4, 4]
    together = torch.cat(shards)
    assert set(together.tolist()) == set(range(10))                 # a cover ...
    assert together.unique().numel() == 10 and together.numel() == 12   # ... padded by 2
    assert torch.equal(shards[1], shard_indices(10, 1, 3, seed=5))
    assert not torch.equal(shards[1], shard_indices(10, 1, 3, seed=6))
    with pytest.raises(ValueError, match='rank must be in'):
        shard_indices(10, 3, 3, seed=0)


def test_sharded_loaders_cover_every_training_edge_once(tiny_graph):
    data, _ = tiny_graph
    edges = split_edges(data, TRAIN)
    seen = []
    for rank in range(2):
        for batch in make_train_loader(data, batch_size=4, num_neg=2, seed=3, shard=(rank, 2)):
            pos = batch.item_id[batch.pos_index]
            seen += list(zip(batch.user_id.tolist(), pos.tolist()))
            assert not any((edges[0] == u).logical_and(edges[1] == i).any()
                           for u, i in zip(batch.user_id.repeat_interleave(2).tolist(),
                                           batch.item_id[batch.neg_index].view(-1).tolist()))
    expected = sorted(zip(edges[0].tolist(), edges[1].tolist()))
    assert len(seen) == 2 * -(-len(expected) // 2)
    assert sorted(set(seen)) == sorted(set(expected))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def _spawn(fn, args: tuple, nprocs: int, timeout: float = 300.0) -> None:
    """``mp.spawn`` that fails the test instead of hanging when a worker never finishes."""
    context = mp.start_processes(fn, args=args, nprocs=nprocs, join=False, start_method='spawn')
    deadline = time.monotonic() + timeout
    while not context.join(timeout=5):
        if time.monotonic() > deadline:
            for process in context.processes:
                process.terminate()
            pytest.fail(f'DDP workers still running after {timeout:.0f} s')


def _worker(rank: int, world: int, port: int, graph_dir: str, out_dir: str) -> None:
    import torch.distributed as dist

    from addrl_graph.distributed import shutdown
    from addrl_graph.nn.model import ADDRL
    from addrl_graph.training.train import _data_parallel

    torch.set_num_threads(1)
    # loopback only: gloo otherwise picks the interface of the host name
    os.environ.update(MASTER_ADDR='127.0.0.1', MASTER_PORT=str(port), GLOO_SOCKET_IFNAME='lo')
    dist.init_process_group('gloo', rank=rank, world_size=world,
                            timeout=datetime.timedelta(seconds=90))
    ctx = DistContext(rank, world, rank, 'gloo')
    try:
        data, meta = load_graph(graph_dir)
        graph = TrainGraph.from_data(data, meta)
        # 1) one step on this rank's half of a fixed batch, through the trainer's DDP wrapper
        torch.manual_seed(0)
        model = ADDRL.from_graph(graph, ModelConfig(**MODEL))
        batch = _half(next(iter(make_train_loader(data, batch_size=32, num_neg=2, seed=0))),
                      rank, world)
        ddp = _data_parallel(model, torch.device('cpu'))  # keep it alive until backward
        loss, _ = ddp(batch, graph)
        loss.backward()
        if rank == 0:
            torch.save({n: p.grad for n, p in model.named_parameters()},
                       os.path.join(out_dir, 'grads.pt'))
        del ddp, loss      # free the DDP reducer while its process group is alive
        # 2) a whole training run
        train(graph_dir, os.path.join(out_dir, 'ddp'), TrainConfig(**TRAINING),
              ModelConfig(**MODEL), progress=False, distributed=ctx)
    finally:
        shutdown()


def _half(batch, rank: int, world: int):
    """Rank ``rank``'s share of the triplets (items and features kept whole)."""
    from dataclasses import replace

    rows = slice(rank, None, world)
    return replace(batch, user_id=batch.user_id[rows], pos_index=batch.pos_index[rows],
                   neg_index=batch.neg_index[rows])


@pytest.fixture
def medium_graph_dir(tmp_path):
    return save_tiny_graph(tmp_path / 'graph', num_users=60, num_items=40, per_user=10)


def test_two_gloo_processes_match_one_process(medium_graph_dir, tmp_path):
    from addrl_graph.nn.model import ADDRL

    _spawn(_worker, (2, _free_port(), str(medium_graph_dir), str(tmp_path)), nprocs=2)

    # the averaged gradient of two half batches is the gradient of the whole batch
    data, meta = load_graph(medium_graph_dir)
    graph = TrainGraph.from_data(data, meta)
    torch.manual_seed(0)
    model = ADDRL.from_graph(graph, ModelConfig(**MODEL))
    batch = next(iter(make_train_loader(data, batch_size=32, num_neg=2, seed=0)))
    model(batch, graph)[0].backward()
    grads = torch.load(tmp_path / 'grads.pt', weights_only=True)
    for name, p in model.named_parameters():
        torch.testing.assert_close(grads[name], p.grad, rtol=1e-4, atol=1e-6, msg=name)

    # rank 0 wrote the run; it learns and lands near the single-process run
    single = train(medium_graph_dir, tmp_path / 'single', TrainConfig(**TRAINING),
                   ModelConfig(**MODEL), progress=False)
    ddp = json.loads((tmp_path / 'ddp' / 'results.json').read_text())
    rows = [json.loads(line) for line in
            (tmp_path / 'ddp' / 'metrics.jsonl').read_text().splitlines()]
    assert len(rows) == TRAINING['epochs'] and rows[-1]['loss'] < rows[0]['loss']
    single_rows = [json.loads(line) for line in
                   (tmp_path / 'single' / 'metrics.jsonl').read_text().splitlines()]
    # Same global batch, steps and lr; different negatives and shards: within 10% on the loss
    # and 0.1 on validation Recall@20 (seed-to-seed spread here is ~0.05).
    assert abs(rows[-1]['loss'] - single_rows[-1]['loss']) <= 0.1 * single_rows[-1]['loss']
    assert abs(ddp['valid']['recall@20'] - single['valid']['recall@20']) <= 0.1
    assert not list((tmp_path / 'ddp').glob('*.tmp*'))
