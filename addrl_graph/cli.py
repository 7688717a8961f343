"""Command line: ``python -m addrl_graph {train,evaluate,compare}`` (console script ``addrl``)."""
from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys
from pathlib import Path

from addrl_graph import cli_explain
from addrl_graph.config import ABLATIONS, ModelConfig
from addrl_graph.errors import AddrlError
from addrl_graph.registry import MODEL_NAMES
from addrl_graph.train import TrainConfig


def _bool(text: str) -> bool:
    if text.lower() in ('1', 'true', 'yes', 'on'):
        return True
    if text.lower() in ('0', 'false', 'no', 'off'):
        return False
    raise argparse.ArgumentTypeError(f'expected true or false (got {text!r})')


def _add_dataclass_flags(parser: argparse.ArgumentParser, cls: type, skip: set[str],
                         group: str) -> None:
    """One ``--flag`` per dataclass field (``d_chunk`` → ``--d-chunk``), default from the class."""
    section = parser.add_argument_group(group)
    for f in dataclasses.fields(cls):
        if f.name in skip:
            continue
        default = f.default if f.default is not dataclasses.MISSING else None
        kind = {'bool': _bool, 'int': int, 'float': float}.get(str(f.type).split(' ')[0], str)
        section.add_argument(f'--{f.name.replace("_", "-")}', dest=f'{group}_{f.name}',
                             type=kind, default=default, help=f'(default: {default})')


def _collect(args: argparse.Namespace, cls: type, group: str, **fixed) -> object:
    values = {f.name: getattr(args, f'{group}_{f.name}') for f in dataclasses.fields(cls)
              if hasattr(args, f'{group}_{f.name}')}
    return cls(**values, **fixed)


def _training_parser(sub, name: str, help_text: str) -> argparse.ArgumentParser:
    p = sub.add_parser(name, help=help_text)
    p.add_argument('--data', required=True, type=Path, help='processed graph folder')
    p.add_argument('--out', required=True, type=Path, help='run folder')
    p.add_argument('--ablation', choices=sorted(ABLATIONS), help='paper Table 3 variant')
    p.add_argument('--embedding-dim', type=int, default=64, help='baselines: embedding width')
    p.add_argument('--baseline-l2', type=float, default=1e-4, help='baselines: L2 weight')
    _add_dataclass_flags(p, TrainConfig, {'baseline', 'model', 'num_neighbors'}
                         if name == 'compare' else {'baseline'}, 'train')
    _add_dataclass_flags(p, ModelConfig, {'ablation'}, 'model')
    return p


def _configs(args: argparse.Namespace) -> tuple[TrainConfig, ModelConfig]:
    baseline = {'embedding_dim': args.embedding_dim, 'l2': args.baseline_l2}
    train_config = _collect(args, TrainConfig, 'train', baseline=baseline)
    model_config = _collect(args, ModelConfig, 'model', ablation=args.ablation)
    return train_config.validate(), model_config.validate()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog='addrl', description='AD-DRL on PyTorch Geometric')
    parser.add_argument('--quiet', action='store_true', help='no progress bars, warnings only')
    sub = parser.add_subparsers(dest='command', required=True)
    tr = _training_parser(sub, 'train', 'train one model on a processed graph')
    tr.add_argument('--resume', action='store_true', help='continue the run in --out')
    _training_parser(sub, 'compare', f'train {", ".join(MODEL_NAMES)} and print one table')
    ev = sub.add_parser('evaluate', help="evaluate a run's best checkpoint")
    ev.add_argument('--run', required=True, type=Path)
    ev.add_argument('--split', default='test', choices=['valid', 'test'])
    ev.add_argument('--checkpoint', default='best', choices=['best', 'last'])
    ev.add_argument('--data', type=Path, help='graph folder (default: the one the run used)')
    ev.add_argument('--authors-ndcg', action='store_true',
                    help="also report the authors' NDCG (ideal DCG from the retrieved list)")
    ev.add_argument('--device', default='cpu')
    cli_explain.add_commands(sub)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO,
                        format='%(levelname)s %(name)s: %(message)s')
    progress = not args.quiet and sys.stderr.isatty()
    try:
        if args.command == 'train':
            from addrl_graph.train import train
            train_config, model_config = _configs(args)
            print(json.dumps(train(args.data, args.out, train_config, model_config,
                                   resume=args.resume, progress=progress), indent=2))
        elif args.command == 'compare':
            from addrl_graph.compare import compare, format_table
            train_config, model_config = _configs(args)
            print(format_table(compare(args.data, args.out, train_config, model_config,
                                       progress=progress)))
        elif args.command in cli_explain.COMMANDS:
            cli_explain.run(args)
        else:
            from addrl_graph.evaluate import evaluate
            from addrl_graph.runs import load_run_model, read_run_config
            from addrl_graph.data import load_graph
            data, meta = load_graph(args.data or read_run_config(args.run)['data'])
            model, _ = load_run_model(args.run, args.checkpoint, data, meta, device=args.device)
            print(json.dumps(evaluate(model, data, args.split, authors_ndcg=args.authors_ndcg,
                                      device=args.device, progress=progress), indent=2))
    except AddrlError as e:
        print(f'error: {e}', file=sys.stderr)
        return 2
    return 0
