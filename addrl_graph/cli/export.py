"""Command ``export-model`` of ``python -m addrl_graph``: a run's checkpoint as a pretrained
folder (:func:`~addrl_graph.training.export.export_run`) that
:meth:`~addrl_graph.nn.pretrained.Pretrained.from_pretrained` loads without the run.
:func:`add_command` registers it, :func:`run` handles it."""
from __future__ import annotations

import argparse
from pathlib import Path

COMMAND = 'export-model'


def add_command(subparsers) -> None:
    """Register ``export-model`` on the ``add_subparsers()`` object of the CLI."""
    p = subparsers.add_parser(COMMAND, help="save a run's checkpoint as a folder that travels "
                              'without the run (config.json, model.safetensors, id_maps.json)')
    p.add_argument('--run', required=True, type=Path, help='training run folder')
    p.add_argument('--out', required=True, type=Path, help='folder to write')
    p.add_argument('--checkpoint', default='best', choices=['best', 'last'])
    p.add_argument('--data', type=Path, help='graph folder (default: the one the run used)')


def run(args: argparse.Namespace) -> None:
    from addrl_graph.training.export import export_run
    out = export_run(args.run, args.out, args.checkpoint, args.data)
    print(f'wrote {out} (load it with addrl_graph.nn.pretrained.Pretrained.from_pretrained)')
