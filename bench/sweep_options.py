"""Choose AD-DRL's defaults where the paper and the authors' code differ, by validation
Recall@20 (never test): one option changed at a time from a base, several seeds; prints JSON.

    python bench/sweep_options.py --data data/sports-synthetic-small --epochs 50 --seeds 0 1
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import tempfile
from pathlib import Path

from addrl_graph.nn.config import ModelConfig
from addrl_graph.training.train import TrainConfig, train

VARIANTS = {
    'base': {},
    'feature_norm=False': {'feature_norm': False},
    'feature_activation=leaky_relu (paper)': {'feature_activation': 'leaky_relu'},
    'feature_activation=tanh': {'feature_activation': 'tanh'},
    'chunk_norm=False (paper)': {'chunk_norm': False},
    'bpr_negatives=each (paper)': {'bpr_negatives': 'each'},
    'bpr_negatives=hardest (authors)': {'bpr_negatives': 'hardest'},
    'double_softmax=True (authors)': {'double_softmax': True},
    'bpr_reduction=sum (authors)': {'bpr_reduction': 'sum'},
    'bpr_reduction=mean': {'bpr_reduction': 'mean'},
    'l2=0.01': {'l2': 0.01},
    'l2=1.0': {'l2': 1.0},
}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument('--data', type=Path, required=True)
    p.add_argument('--epochs', type=int, default=50)
    p.add_argument('--lr', type=float, default=1e-2)
    p.add_argument('--seeds', type=int, nargs='+', default=[0, 1])
    p.add_argument('--base', default='{}', help='JSON ModelConfig fields of the base')
    p.add_argument('--variants', nargs='*', help='subset of variant names')
    args = p.parse_args()
    base = ModelConfig(**json.loads(args.base))
    results = {}
    for name, change in VARIANTS.items():
        if args.variants and name not in args.variants:
            continue
        scores = []
        for seed in args.seeds:
            with tempfile.TemporaryDirectory() as run:
                out = train(args.data, run, TrainConfig(epochs=args.epochs, lr=args.lr,
                                                        patience=args.epochs, seed=seed),
                            dataclasses.replace(base, **change), progress=False)
            scores.append(out['valid']['recall@20'])
        results[name] = {'valid_recall@20_median': round(statistics.median(scores), 4),
                         'per_seed': [round(s, 4) for s in scores]}
        print(json.dumps({name: results[name]}), flush=True)
    print(json.dumps({'base': dataclasses.asdict(base), 'epochs': args.epochs, 'lr': args.lr,
                      'results': results}, indent=2))


if __name__ == '__main__':
    main()
