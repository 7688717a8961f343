"""Command line: ``python -m addrl_graph ...`` (console script ``addrl``). The flag generator
(:mod:`addrl_graph.cli.flags`) also serves ``python -m data_builders``, which must not load the
training stack to get it, so :func:`main` imports the commands (:mod:`addrl_graph.cli.commands`)
when called."""


def main(argv: list[str] | None = None) -> int:
    from addrl_graph.cli.commands import main as run
    return run(argv)


__all__ = ['main']
