"""Regenerate the README's real-data tables: every model, and AD-DRL's ablations, on the real
Beauty 2014 half with several seeds and paired tests; prints JSON, then the markdown tables.

Data: ``../shared/data/amazon-2014-beauty-half-a`` (5-core, 6,240 users, 4,102 items), built
once into ``--work`` as ``bench/tune_defaults.py`` builds it (minilm documents of
title/brand/categories, no images, paper split, seed 0). Every model trains at its tuned
defaults (``MODEL_DEFAULTS``; ``--configs`` gives ``tune``'s best files instead) with the same
budget: patience 5 (``--patience``), at most ``--run-minutes`` per run, once per seed; the checkpoint is chosen
on validation Recall@20 and the test split read once per run. Two tables: the models
(``--models``) and the ablations (AD-DRL and its Table-3 variants), each with the paired t-test
and Wilcoxon test of AD-DRL against every row on the users' test Recall@20 and NDCG@20.
Finished runs in ``--out`` are reused, so a rerun only trains what is missing.

    python bench/real_results.py --seeds 0,1,2                # about 2 h on a 2-core CPU
    python bench/real_results.py --seeds 0,1,2 --no-ablations
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from tune_defaults import ROOT, build_real_graph  # noqa: E402

BASELINES = 'addrl,lightgcn,bpr-mf,vbpr,dmrl,dgcf,freedom'


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--work', type=Path, default=ROOT / 'data' / 'tune-defaults',
                   help='where the graph is built (shared with bench/tune_defaults.py)')
    p.add_argument('--out', type=Path, default=ROOT / 'runs' / 'real-results')
    p.add_argument('--seeds', default='0,1,2')
    p.add_argument('--models', default=BASELINES)
    p.add_argument('--configs', type=Path, default=None,
                   help="folder of <model>.yaml (tune's best.yaml) instead of the defaults")
    p.add_argument('--run-minutes', type=float, default=8.0)
    p.add_argument('--patience', type=int, default=5)
    p.add_argument('--workers', type=int, default=2)
    p.add_argument('--no-ablations', action='store_true')
    args = p.parse_args()

    from addrl_graph.nn.config import ModelConfig
    from addrl_graph.training.compare import compare
    from addrl_graph.training.compare_report import format_table
    from addrl_graph.training.train import TrainConfig

    graph = build_real_graph('beauty-2014-half', args.work)
    seeds = tuple(int(s) for s in args.seeds.split(','))
    models = tuple(args.models.split(','))
    budget = TrainConfig(epochs=1000, patience=args.patience, max_minutes=args.run_minutes)
    start = time.perf_counter()
    summary = compare(graph, args.out, budget, ModelConfig(), models=models, seeds=seeds,
                      ablations=not args.no_ablations, configs=args.configs,
                      workers=args.workers, progress=False)
    rows = {'models': [r for r in summary['rows'] if r['name'] in models],
            'ablations': [r for r in summary['rows'] if r['name'] == 'addrl'
                          or r['name'] not in models]}
    tables = {name: dict(summary, rows=subset) for name, subset in rows.items() if len(subset) > 1}
    print(json.dumps({'data': str(graph), 'seeds': list(seeds), 'run_minutes': args.run_minutes,
                      'machine': f'{platform.machine()}, {torch.get_num_threads()} threads, '
                                 f'{args.workers} runs at a time',
                      'minutes': round((time.perf_counter() - start) / 60, 1),
                      'tables': tables}, indent=2))
    for name, table in tables.items():
        print(f'\n## {name}\n\n{format_table(table)}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
