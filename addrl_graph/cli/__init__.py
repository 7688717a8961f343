"""Command line: ``python -m addrl_graph ...`` (console script ``addrl``)."""
from addrl_graph.cli.main import main

__all__ = ['main']
