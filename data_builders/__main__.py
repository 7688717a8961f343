"""Command line: ``python -m data_builders {build,synthetic,import-mmrec,import-recbole,export}``.

The flags of ``build`` are the fields of :class:`~data_builders.build.BuildConfig` and of its
:class:`~data_builders.attributes.AttributeConfig` (flat: ``--price-levels``, and ``--attributes``
for ``names``); those of ``synthetic`` the fields of :class:`SyntheticCommand`. Each is spelled
``--k-core`` and ``--k_core``, with its default and help from the dataclass
(:func:`addrl_graph.cli.flags.add_dataclass_flags`).
"""
from __future__ import annotations

import json
import logging
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from jsonargparse import ArgumentParser

from addrl_graph.cli.exits import run_command, user_paths
from addrl_graph.cli.flags import (Flag, HelpFormatter, add_dataclass_flags, comma_separated,
                                   instantiate, optional)
from data_builders.attributes import POPULARITY_SOURCES, AttributeConfig
from data_builders.build import BuildConfig
from data_builders.interop.options import FORMATS as INTEROP_FORMATS
from data_builders.interop.options import ExportConfig, ImportConfig
from data_builders.readers import FORMATS
from data_builders.split import PROTOCOLS
from data_builders.synthetic import PRESETS


@dataclass
class SyntheticCommand:
    """Options of ``python -m data_builders synthetic``.

    Args:
        out: folder to write the dump into.
        preset: ``small`` (600 users, 500 items) or ``sports`` (the paper's Sports size).
        seed: random seed of the dump.
        images: draw one PNG per item (``--no-images``: reviews and metadata only).
    """
    out: Path
    preset: str = 'small'
    seed: int = 0
    images: bool = True


#: Types the parser checks instead of the fields' annotations: the choices, and the spellings
#: ``price,brand`` of a list and ``leaf`` (or ``none``) for the leaf category.
_TYPES = {'format': Literal[FORMATS], 'split': Literal[PROTOCOLS],
          'popularity_source': Literal[POPULARITY_SOURCES],
          'names': comma_separated(str), 'category_depth': optional(int, 'leaf', 'none'),
          'preset': Literal[tuple(PRESETS)]}


def _parser() -> tuple[ArgumentParser, dict[str, Flag]]:
    """The parser of both commands, and every generated flag by key (for error messages)."""
    def command(description: str) -> ArgumentParser:
        return ArgumentParser(description=description, formatter_class=HelpFormatter,
                              exit_on_error=False)

    parser = ArgumentParser(prog='python -m data_builders', exit_on_error=False,
                            description='Amazon review dumps → AD-DRL graph',
                            formatter_class=HelpFormatter)
    parser.add_argument('--quiet', action='store_true', help='no progress bars, warnings only')
    commands = parser.add_subcommands(dest='command', required=True)
    build = command('build graph.pt + meta.json from dumps')
    flags = add_dataclass_flags(build, BuildConfig, skip={'attributes', 'progress'},
                                types=_TYPES, switches=True)
    flags |= add_dataclass_flags(build, AttributeConfig, rename={'names': 'attributes'},
                                 types=_TYPES, switches=True)
    commands.add_subcommand('build', build, help=build.description)
    synthetic = command('write a synthetic 2014-format dump')
    flags |= add_dataclass_flags(synthetic, SyntheticCommand, types=_TYPES, switches=True)
    commands.add_subcommand('synthetic', synthetic, help=synthetic.description)
    for fmt in INTEROP_FORMATS:
        folder = command(f'graph.pt + meta.json from a folder of {fmt} files, on its split')
        folder.add_argument('dir', type=Path, help=f'the folder of {fmt} files')
        flags |= add_dataclass_flags(folder, ImportConfig, skip={'dir', 'attributes'},
                                     types=_TYPES, switches=True)
        flags |= add_dataclass_flags(folder, AttributeConfig, rename={'names': 'attributes'},
                                     types=_TYPES, switches=True)
        commands.add_subcommand(f'import-{fmt}', folder, help=folder.description)
    export = command('write a graph as MMRec or RecBole files, on its exact split')
    flags |= add_dataclass_flags(export, ExportConfig, switches=True,
                                 types={'format': Literal[INTEROP_FORMATS]})
    commands.add_subcommand('export', export, help=export.description)
    return parser, flags


def _run_build(values: dict, progress: bool) -> None:
    from data_builders.build import build
    from data_builders.summary import format_summary

    config = instantiate(BuildConfig, values, progress=progress,
                         attributes=instantiate(AttributeConfig, values))
    meta = build(config)
    print(format_summary(meta))
    print(f'wrote {config.out / "graph.pt"} and {config.out / "meta.json"}')


def _run_synthetic(values: dict, progress: bool) -> None:
    from data_builders.synthetic import generate

    options = instantiate(SyntheticCommand, values)
    summary = generate(options.out, preset=options.preset, seed=options.seed,
                       images=options.images, progress=progress)
    print(json.dumps(summary, indent=2, default=str))


def _run_import(fmt: str, values: dict) -> None:
    from data_builders.interop import import_folder
    from data_builders.summary import format_summary

    config = instantiate(ImportConfig, values, attributes=instantiate(AttributeConfig, values))
    meta = import_folder(fmt, config)
    print(format_summary(meta))
    print(f'wrote {config.out / "graph.pt"} and {config.out / "meta.json"}')


def _run_export(values: dict, progress: bool) -> None:
    from data_builders.interop import export_graph

    config = instantiate(ExportConfig, values)
    written = export_graph(config)
    print(f'wrote {len(written)} files into {config.out}: '
          f'{", ".join(p.name for p in written)}')


def main(argv: list[str] | None = None) -> int:
    """``python -m data_builders ...``: 0, or 2 after one line ``error: ...`` for a user's
    error, or 130 on Ctrl-C (:func:`addrl_graph.cli.exits.run_command`)."""
    parser, flags = _parser()

    def command() -> None:
        args = parser.parse_args(sys.argv[1:] if argv is None else argv).as_dict()
        logging.basicConfig(level=logging.WARNING if args['quiet'] else logging.INFO,
                            format='%(levelname)s %(name)s: %(message)s')
        progress = not args['quiet'] and sys.stderr.isatty()
        values = args[args['command']]
        with user_paths(values):
            runners = {'build': _run_build, 'synthetic': _run_synthetic, 'export': _run_export,
                       **{f'import-{f}': lambda v, _, f=f: _run_import(f, v)
                          for f in INTEROP_FORMATS}}
            runners[args['command']](values, progress)

    return run_command(command, flags)


if __name__ == '__main__':
    sys.exit(main())
