"""Benchmark: cost of one AD-DRL training step as the ID tables grow, dense Adam vs sparse
(lazy) Adam (:mod:`addrl_graph.training.optim`); prints JSON.

The model has the ``sports`` preset's shape times ``--scales`` (users, items), batches of
``--batch-size`` random triplets over them (random features of the real encoders' widths), and
reports medians over ``--steps`` steps of forward + backward and of the optimiser step, both
optimisers measured in the same process.

    python bench/bench_optimizer_step.py --scales 1,4
"""
from __future__ import annotations

import argparse
import json
import statistics
import time

import torch

SPORTS_USERS, SPORTS_ITEMS = 21_400, 36_224
ATTRIBUTES = {'price': 6, 'popularity': 5, 'brand': 2_082, 'category': 18}


def random_batch(num_users: int, num_items: int, batch_size: int, num_neg: int,
                 generator: torch.Generator):
    from addrl_graph.loader.batch import TripletBatch
    items = torch.unique(torch.randint(num_items, (batch_size * (num_neg + 1),),
                                       generator=generator))
    M = items.numel()
    return TripletBatch(
        user_id=torch.randint(num_users, (batch_size,), generator=generator), item_id=items,
        pos_index=torch.randint(M, (batch_size,), generator=generator),
        neg_index=torch.randint(M, (batch_size, num_neg), generator=generator),
        x_text=torch.randn(M, 384, generator=generator),
        x_image=torch.randn(M, 1280, generator=generator).relu(),
        has_text=torch.ones(M, dtype=torch.bool), has_image=torch.ones(M, dtype=torch.bool),
        attr=torch.zeros(M, len(ATTRIBUTES), dtype=torch.long))


def step_seconds(scale: int, sparse: bool, batch_size: int, num_neg: int,
                 steps: int) -> dict[str, float]:
    from addrl_graph.nn.config import ModelConfig
    from addrl_graph.nn.model import ADDRL
    from addrl_graph.training.optim import make_optimizer

    torch.manual_seed(0)
    users, items = SPORTS_USERS * scale, SPORTS_ITEMS * scale
    model = ADDRL(users, items, list(ATTRIBUTES), list(ATTRIBUTES.values()), 384, 1280,
                  ModelConfig(id_encoder='embedding'))
    optimizer = make_optimizer(model, 1e-4, sparse)
    generator = torch.Generator().manual_seed(0)
    backward, update = [], []
    for i in range(steps + 1):  # the first step warms up allocations
        batch = random_batch(users, items, batch_size, num_neg, generator)
        start = time.perf_counter()
        loss, _ = model(batch, None)  # the embedding encoder reads the batch's rows only
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        middle = time.perf_counter()
        optimizer.step()
        if i:
            backward.append(middle - start)
            update.append(time.perf_counter() - middle)
    return {'forward_backward_ms': round(1000 * statistics.median(backward), 1),
            'optimizer_step_ms': round(1000 * statistics.median(update), 1)}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument('--scales', default='1,4', help='multiples of the sports users and items')
    p.add_argument('--steps', type=int, default=5)
    p.add_argument('--batch-size', type=int, default=1024)
    p.add_argument('--num-neg', type=int, default=8)
    args = p.parse_args()
    rows = [{'scale': s, 'optimizer': 'sparse' if sparse else 'dense',
             **step_seconds(s, sparse, args.batch_size, args.num_neg, args.steps)}
            for s in (int(x) for x in args.scales.split(','))
            for sparse in (False, True)]
    print(json.dumps({'threads': torch.get_num_threads(), 'batch_size': args.batch_size,
                      'num_neg': args.num_neg, 'steps': args.steps, 'rows': rows}, indent=2))


if __name__ == '__main__':
    main()
