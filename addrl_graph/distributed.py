"""Data-parallel training with ``torch.distributed``: process group, edge sharding, reductions.

One process per device (``torchrun --nproc_per_node=N``): gloo on CPU, NCCL on CUDA. Every rank
holds the whole model and the whole graph (a graph encoder propagates over all of it); each epoch
the training edges are permuted with a generator seeded by the epoch (the same on every rank)
and rank ``r`` trains on positions ``r, r + W, r + 2W, …`` of that order, padded by wrapping
around so that every rank runs the same number of steps (as
:class:`torch.utils.data.distributed.DistributedSampler` does). ``TrainConfig.batch_size`` is
the global batch: each rank takes ``ceil(batch_size / W)`` triplets per step, and
:class:`~torch.nn.parallel.DistributedDataParallel` averages the gradients, so a step follows
the gradient of the global batch as a single process would (a summed BPR term is multiplied by
``W`` for that, see :func:`addrl_graph.nn.losses.addrl_loss`). Only rank 0 evaluates and writes;
the other ranks receive its decisions.
"""
from __future__ import annotations

import gc
import logging
import math
import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DistContext:
    """Where this process sits in the process group.

    Attributes:
        rank: global rank ``r``.
        world_size: number of processes ``W``.
        local_rank: rank on this machine (picks the CUDA device).
        backend: ``'gloo'`` or ``'nccl'``.
    """
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    backend: str = 'gloo'

    @classmethod
    def current(cls) -> 'DistContext':
        """The process group this process has joined (one process when none)."""
        if not (dist.is_available() and dist.is_initialized()):
            return cls()
        rank = dist.get_rank()
        return cls(rank, dist.get_world_size(), int(os.environ.get('LOCAL_RANK', rank)),
                   dist.get_backend())

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        """Whether there is more than one process (collectives are needed)."""
        return self.world_size > 1


def init_distributed(device: str = 'cpu') -> tuple[DistContext, str]:
    """Join the process group described by torchrun's environment (``RANK``, ``WORLD_SIZE``,
    ``LOCAL_RANK``, ``MASTER_ADDR``, ``MASTER_PORT``): NCCL when ``device`` is CUDA, else gloo.

    Returns:
        the context and the device this rank should use (``cuda:<local_rank>`` on CUDA).
    """
    rank = int(os.environ.get('RANK', 0))
    world = int(os.environ.get('WORLD_SIZE', 1))
    local = int(os.environ.get('LOCAL_RANK', rank))
    cuda = torch.device(device).type == 'cuda'
    backend = 'nccl' if cuda else 'gloo'
    if cuda:
        torch.cuda.set_device(local)
        device = f'cuda:{local}'
    if not dist.is_initialized():
        dist.init_process_group(backend, rank=rank, world_size=world)
    log.info('rank %d/%d on %s (%s)', rank, world, device, backend)
    return DistContext(rank, world, local, backend), device


def shutdown() -> None:
    """Leave the process group (no-op when none was joined).

    Drop every ``DistributedDataParallel`` wrapper first: a DDP reducer freed *after* its gloo
    group was destroyed blocks forever in the group's destructor.
    """
    if dist.is_initialized():
        gc.collect()
        dist.destroy_process_group()


def shard_indices(num_items: int, rank: int, world_size: int, seed: int) -> Tensor:
    """This rank's positions of a seeded permutation of ``range(num_items)``: every rank gets
    ``ceil(num_items / W)`` of them (wrapping around to pad), disjoint up to the padding.

    Shapes:
        - → :math:`[\\lceil n / W \\rceil]`
    """
    if not 0 <= rank < world_size:
        raise ValueError(f'rank must be in [0, {world_size}) (got {rank})')
    perm = torch.randperm(num_items, generator=torch.Generator().manual_seed(seed))
    total = math.ceil(num_items / world_size) * world_size
    if total > num_items and num_items > 0:
        perm = torch.cat([perm, perm[:total - num_items].repeat(
            math.ceil((total - num_items) / num_items))[:total - num_items]])
    return perm[rank::world_size]


def mean_over_ranks(values: dict[str, float], ctx: DistContext) -> dict[str, float]:
    """Average each value over the ranks (identity for one process)."""
    if not ctx.active or not values:
        return values
    keys = sorted(values)
    device = torch.device('cuda', ctx.local_rank) if ctx.backend == 'nccl' else None
    t = torch.tensor([float(values[k]) for k in keys], dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return dict(zip(keys, (t / ctx.world_size).tolist()))


def broadcast_from_main(value: Any, ctx: DistContext) -> Any:
    """Rank 0's ``value`` (any picklable object) on every rank."""
    if not ctx.active:
        return value
    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]
