"""Command line: ``python -m addrl_graph {train,compare,tune,evaluate,...}`` (console script
``addrl``). The flags and config files of ``train``, ``compare`` and ``tune`` come from
:mod:`addrl_graph.cli.config`; the other commands are plain :mod:`argparse`."""
from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from addrl_graph.cli import config as cli_config, explain as cli_explain, serve as cli_serve
from addrl_graph.cli import export as cli_export
from addrl_graph.cli.exits import OneLineParser, run_command, user_paths
from addrl_graph.training.config import check_device


def _parser() -> argparse.ArgumentParser:
    """The top-level parser. ``train``, ``compare`` and ``tune`` are only named here: their
    arguments go to :func:`addrl_graph.cli.config.parse` unparsed."""
    parser = OneLineParser(prog='addrl', description='AD-DRL on PyTorch Geometric')
    parser.add_argument('--quiet', action='store_true', help='no progress bars, warnings only')
    sub = parser.add_subparsers(dest='command', required=True)
    for name, help_text in cli_config.COMMANDS.items():
        sub.add_parser(name, help=f'{help_text} (see addrl {name} --help)', add_help=False)
    ev = sub.add_parser('evaluate', help="evaluate a run's best checkpoint")
    ev.add_argument('--run', required=True, type=Path)
    ev.add_argument('--split', default='test', choices=['valid', 'test'])
    ev.add_argument('--checkpoint', default='best', choices=['best', 'last'])
    ev.add_argument('--data', type=Path, help='graph folder (default: the one the run used)')
    ev.add_argument('--authors-ndcg', action='store_true',
                    help="also report the authors' NDCG (ideal DCG from the retrieved list)")
    ev.add_argument('--device', default='cpu')
    cli_explain.add_commands(sub)
    cli_export.add_command(sub)
    cli_serve.add_command(sub)
    return parser


def _run(command: cli_config.Command, progress: bool) -> None:
    """Run a parsed ``train``, ``compare`` or ``tune`` and print its result."""
    o, train_config, model_config = command.options, command.train_config, command.model_config
    if command.name == 'train':
        from addrl_graph.training.train import train
        print(json.dumps(train(o['data'], o['out'], train_config, model_config,
                               resume=o['resume'], progress=progress), indent=2))
    elif command.name == 'compare':
        from addrl_graph.training.compare import compare
        from addrl_graph.training.compare_report import format_table
        print(format_table(compare(o['data'], o['out'], train_config, model_config,
                                   models=tuple(o['models']), seeds=tuple(o['seeds']),
                                   ablations=o['ablations'], configs=o['configs'],
                                   workers=o['workers'], progress=progress)))
        print(f"wrote {o['out'] / 'compare.json'} and {o['out'] / 'compare.md'}")
    else:
        from addrl_graph.training.tune import tune
        summary = tune(o['data'], o['out'], train_config, model_config, trials=o['trials'],
                       space=o['space'], max_minutes=o['study_max_minutes'],
                       storage=o['storage'], workers=o['workers'], progress=progress)
        print(summary.table)
        print(f'best configuration: {summary.best_config} (train --config reads it)')


def _evaluate(args: argparse.Namespace, progress: bool) -> None:
    """``evaluate``: the run's checkpoint on its graph (or ``--data``), once."""
    from addrl_graph.data.schema import load_graph
    from addrl_graph.data.train_graph import TrainGraph
    from addrl_graph.metrics.evaluate import evaluate
    from addrl_graph.training.runs import load_run_model, read_run_config

    data, meta = load_graph(args.data or read_run_config(args.run)['data'])
    graph = TrainGraph.from_data(data, meta)
    model, _ = load_run_model(args.run, args.checkpoint, data, meta, device=args.device,
                              graph=graph)
    print(json.dumps(evaluate(model, data, args.split, authors_ndcg=args.authors_ndcg,
                              device=args.device, progress=progress, graph=graph), indent=2))


def main(argv: list[str] | None = None) -> int:
    """``addrl ...``: 0, or 2 after one line ``error: ...`` for a user's error, or 130 on
    Ctrl-C (:func:`addrl_graph.cli.exits.run_command`)."""
    return run_command(lambda: _main(argv))


def _main(argv: list[str] | None) -> None:
    parser = _parser()
    args, rest = parser.parse_known_args(argv)
    if rest and args.command not in cli_config.COMMANDS:
        parser.error(f'unrecognized arguments: {" ".join(rest)}')
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO,
                        format='%(levelname)s %(name)s: %(message)s')
    progress = not args.quiet and sys.stderr.isatty()
    if args.command in cli_config.COMMANDS:
        command = cli_config.parse(args.command, rest)
        if command.print_config:
            print(cli_config.to_yaml(command), end='')
            return
        check_device(command.train_config.device)
        with user_paths(command.options):
            _run(command, progress)
        return
    if args.command == cli_export.COMMAND:  # no --device: the weights are written as they are
        with user_paths(vars(args)):
            cli_export.run(args)
        return
    check_device(args.device)
    with user_paths(vars(args)):
        if args.command in cli_explain.COMMANDS:
            cli_explain.run(args)
        elif args.command == cli_serve.COMMAND:
            cli_serve.run(args)
        else:
            _evaluate(args, progress)
