"""Command ``serve`` of ``python -m addrl_graph``: a trained run over HTTP with its web page
(:mod:`addrl_graph.serve`). :func:`add_command` registers it, :func:`run` handles it."""
from __future__ import annotations

import argparse
from pathlib import Path

from addrl_graph.cli.explain import int_in

COMMAND = 'serve'


def add_command(subparsers) -> None:
    """Register ``serve`` on the ``add_subparsers()`` object of the CLI."""
    p = subparsers.add_parser(COMMAND, help='serve a run: explained, controllable '
                              'recommendations over HTTP and a web page (needs the serve extra)')
    p.add_argument('--run', required=True, type=Path, help='training run folder')
    p.add_argument('--checkpoint', default='best', choices=['best', 'last'])
    p.add_argument('--data', type=Path, help='graph folder (default: the one the run used)')
    p.add_argument('--host', default='127.0.0.1',
                   help='address to bind (default: 127.0.0.1; any other needs an API key)')
    p.add_argument('--port', type=int_in(1, 65535), default=8000, help='(default: 8000)')
    p.add_argument('--api-key', help='key clients send as X-API-Key (default: $ADDRL_API_KEY)')
    p.add_argument('--device', default='cpu')


def run(args: argparse.Namespace) -> None:
    from addrl_graph.serve.server import serve
    serve(args.run, args.host, args.port, args.api_key, args.checkpoint, args.data,
          args.device)
