"""Train AD-DRL and the baselines on Sports, end to end, in one command.

Uses real Amazon Sports dumps when pointed at them (``--reviews``/``--meta``, or files under
``data/raw/``), else the embedded default: a synthetic Sports-shaped dataset with planted
preferences. Builds (or reuses) the graph, trains AD-DRL, BPR-MF, LightGCN and VBPR within a
budget in which each converges (early stopping on validation Recall@20 with patience 3, at
most 15 minutes a model: on the synthetic default AD-DRL peaks at its third epoch and stops
after its sixth, about 12.5 minutes on a quiet 2-core CPU at ~125 s an epoch with its
validation ranking; report.md states the epochs each model got), prints the comparison table and writes the
run folder with checkpoints, metrics and ``report.md``.

    python examples/train_sports.py                       # ~30 min on a 2-core CPU
    python examples/train_sports.py --full                # paper budget (early stopping, 50)
    python examples/train_sports.py --preset small        # one-minute smoke run
    torchrun --nproc_per_node=2 examples/train_sports.py --ddp   # data-parallel (gloo / NCCL)
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys
from pathlib import Path

import torch

from addrl_graph.training.compare import compare, run_folder
from addrl_graph.training.compare_report import format_table, markdown_report
from addrl_graph.nn.config import ModelConfig
from addrl_graph.data.schema import load_graph
from addrl_graph.errors import AddrlError
from addrl_graph.training.train import TrainConfig
from data_builders.build import BuildConfig, build

RAW_CANDIDATES = {  # format → (reviews, meta) file names of the real Sports dumps
    '2014': ('reviews_Sports_and_Outdoors_5.json.gz', 'meta_Sports_and_Outdoors.json.gz'),
    '2018': ('Sports_and_Outdoors_5.json.gz', 'meta_Sports_and_Outdoors.json.gz'),
    '2023': ('Sports_and_Outdoors.jsonl.gz', 'meta_Sports_and_Outdoors.jsonl.gz'),
}


def find_real_dumps(args: argparse.Namespace) -> tuple[str, Path, Path | None] | None:
    if args.reviews is not None:
        return args.format, args.reviews, args.meta
    for fmt, (reviews, meta) in RAW_CANDIDATES.items():
        if (args.raw / reviews).is_file():
            return fmt, args.raw / reviews, args.raw / meta if (args.raw / meta).is_file() else None
    return None


def prepare_graph(args: argparse.Namespace) -> tuple[Path, str]:
    """Build the graph unless a build with the same options already exists."""
    real = find_real_dumps(args)
    if real is not None:
        fmt, reviews, meta = real
        data_line = f'real Amazon Sports dumps ({fmt} format): {reviews}'
        graph_dir, images, fast = args.work / 'sports-real', args.images, {}
    else:
        raw = args.work / f'raw-synthetic-{args.preset}'
        data_line = (f'synthetic {args.preset} dataset (embedded default; pass --reviews/--meta '
                     f'or put real dumps in {args.raw} to use real data)')
        fmt, reviews, meta, images = '2014', raw / 'reviews.json.gz', raw / 'meta.json.gz', raw / 'images'
        graph_dir = args.work / f'sports-synthetic-{args.preset}'
        # Drawn images and template texts: small encoder inputs lose nothing and keep the
        # CPU budget (real dumps use the encoders' full sizes).
        fast = {'image_size': 64, 'text_max_length': 32, 'text_reviews': False}
    print(f'data: {data_line}', flush=True)
    if real is None and not (raw / 'ground_truth.json').is_file():
        from data_builders.synthetic import generate
        generate(raw, preset=args.preset, seed=0, images=args.image_encoder != 'none',
                 progress=not args.quiet)
    config = BuildConfig(format=fmt, reviews=reviews, meta=meta, out=graph_dir,
                         images=images if images and Path(images).is_dir() else None,
                         text_encoder=args.text_encoder, image_encoder=args.image_encoder,
                         progress=not args.quiet, **fast)
    meta_file = graph_dir / 'meta.json'
    if meta_file.is_file() and json.loads(meta_file.read_text()).get('build_config') == config.to_dict():
        print(f'reusing the graph in {graph_dir}', flush=True)
    else:
        from data_builders.summary import format_summary
        # a build with other options replaces the graph of this example's own folder
        print(format_summary(build(dataclasses.replace(config, overwrite=True))), flush=True)
    return graph_dir, data_line


def what_addrl_shows(run_dir: Path, out_dir: Path) -> str:
    """Markdown of what the library is for: one explained recommendation (Eq. 11 terms, Eq. 8
    modality weights, attribute values) and one control study of price (Eq. 14) with its plot,
    ``control_price.png`` in ``out_dir``."""
    from addrl_graph.explain import Explainer, explain, recommend
    from addrl_graph.explain.studies import control_study
    from addrl_graph.explain.viz import plot_control_study

    ex = Explainer.from_run(run_dir)
    user = ex.meta['users'][0]
    top = recommend(ex, user, k=5)[user]
    why = explain(ex, user, top[0].item)
    lines = ['', f'## One explained recommendation ({run_dir})', '',
             f'Top 5 of user {user}: ' + ', '.join(r.item for r in top) + '.', '',
             f'Why {why.item} (score {why.score:.3f}, led by {why.top_attribute}):', '',
             '| chunk | term s(u,i,k) | lift over the user\'s mean | item value | '
             'weights id / text / image |', '|---|---|---|---|---|']
    for name, term in why.terms.items():
        weights = ' / '.join(f'{w:.2f}' for w in why.modality_weights.get(name, {}).values())
        lines.append(f'| {name} | {term:.3f} | {why.lift[name]:+.3f} | '
                     f'{why.values.get(name, "-")} | {weights} |')
    study = control_study(ex, 'price')
    plot_control_study(study, out_dir / 'control_price.png')
    lines += ['', '## Turning price up and down (one control study)', '',
              f'Share of the price level users lean to ({study.value!r}) in the top {study.k} '
              f'of {len(study.users)} users, per ξ: ' + ', '.join(
                  f'{x:g}: {s:.1%}' for x, s in zip(study.xis, study.preferred_share)) + '.',
              '', '![control study of price](control_price.png)', '']
    return '\n'.join(lines)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--reviews', type=Path, help='real review dump')
    p.add_argument('--meta', type=Path, help='real metadata dump')
    p.add_argument('--format', default='2014', choices=['2014', '2018', '2023'])
    p.add_argument('--images', type=Path, help='folder of item images for real dumps')
    p.add_argument('--raw', type=Path, default=Path('data/raw'), help='where real dumps may sit')
    p.add_argument('--work', type=Path, default=Path('data'), help='graphs are built here')
    p.add_argument('--out', type=Path, default=Path('runs/sports'), help='run folder')
    p.add_argument('--preset', default='sports', choices=['sports', 'small'])
    p.add_argument('--text-encoder', default='minilm')
    p.add_argument('--image-encoder', default='efficientnet-lite0')
    p.add_argument('--models', default='addrl,bpr-mf,lightgcn,vbpr')
    p.add_argument('--minutes', type=float, default=15.0,
                   help='wall-clock cap per model (early stopping usually ends a run first)')
    p.add_argument('--patience', type=int, default=3,
                   help='epochs without a better validation Recall@20 before a model stops')
    p.add_argument('--lr', type=float, default=None,
                   help="one Adam rate for every model (default: each model's tuned rate, "
                        'addrl_graph.nn.registry.MODEL_DEFAULTS; --full uses the paper\'s 1e-4)')
    p.add_argument('--epochs', type=int, default=1000)
    p.add_argument('--full', action='store_true',
                   help='paper budget: no time limit, early stopping with patience 50')
    p.add_argument('--id-encoder', default='embedding',
                   help="AD-DRL ID-chunk encoder: embedding, lightgcn, gcn or sage (default "
                        "embedding: the library's default, lightgcn, propagates over every "
                        'training edge at every step, too slow for a 15-minute budget per model '
                        'on a Sports-sized graph on 2 CPU cores)')
    p.add_argument('--device', default='cpu')
    p.add_argument('--quiet', action='store_true')
    p.add_argument('--ddp', action='store_true',
                   help='data-parallel training under torchrun (gloo on CPU, NCCL on CUDA)')
    args = p.parse_args()
    ctx = None
    if args.ddp:  # train() picks the process group up; rank 0 builds, writes and reports
        from addrl_graph.distributed import init_distributed

        ctx, args.device = init_distributed(args.device)
        args.quiet = args.quiet or not ctx.is_main
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO,
                        format='%(levelname)s %(name)s: %(message)s')
    try:
        if ctx is not None and not ctx.is_main:
            torch.distributed.barrier()  # wait for rank 0 to build the graph
        graph_dir, data_line = prepare_graph(args)
        if ctx is not None and ctx.is_main:
            torch.distributed.barrier()
        train_config = TrainConfig(epochs=args.epochs, device=args.device,
                                   lr=1e-4 if args.full else args.lr,
                                   max_minutes=None if args.full else args.minutes,
                                   patience=50 if args.full else args.patience)
        results = compare(graph_dir, args.out, train_config,
                          ModelConfig(id_encoder=args.id_encoder),
                          models=tuple(args.models.split(',')),
                          progress=not args.quiet)
    except AddrlError as e:
        print(f'error: {e}', file=sys.stderr)
        return 2
    if ctx is not None:
        torch.distributed.destroy_process_group()
        if not ctx.is_main:
            return 0
    print(format_table(results))
    _, meta = load_graph(graph_dir)
    report = markdown_report(results, meta, data_line)
    if 'addrl' in args.models.split(','):
        report += what_addrl_shows(run_folder(args.out, 'addrl', 0), args.out)
    (args.out / 'report.md').write_text(report)
    print(f'run folder: {args.out} (report.md, one sub-folder per model)')
    return 0


if __name__ == '__main__':
    sys.exit(main())
