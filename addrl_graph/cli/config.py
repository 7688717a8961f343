"""Flags and config files of ``train``, ``compare`` and ``tune``, built from the dataclasses.

Every field of :class:`~addrl_graph.training.train.TrainConfig` and
:class:`~addrl_graph.nn.config.ModelConfig` is a flag at the top level of the command
(``--d-chunk`` or ``--d_chunk``, ``--num-neighbors 10,5``, ``--chunk-norm true``), every field
of :class:`~addrl_graph.nn.config.BaselineConfig` one under ``baseline``
(``--baseline.l2 1e-4``). ``--config FILE`` (YAML or JSON) reads the same keys, ``baseline`` as
a nested mapping, plus the command's own (``data``, ``out``, ...)::

    model: addrl
    lr: 0.003
    bpr_reduction: sum
    baseline: {l2: 0.0001}

and every flag on the command line overrides the file, wherever it stands. ``--print-config``
prints the resolved configuration in that format (``train`` and ``tune``: the fields left at
:obj:`None` filled in from :data:`~addrl_graph.nn.registry.MODEL_DEFAULTS`) and exits.

Why jsonargparse: it reads each flag's type from the field's annotation (``list[int] | None``,
``bool``, ...) and checks values from the command line and from files alike, loads YAML and
JSON files with nested keys, and rejects unknown keys; the help of each flag is its field's
entry in the class docstring (``Args:``). Adding a field to a dataclass thus adds its flag and
its config key, with no list of flags to keep in step. Range checks stay in the dataclasses'
``validate()``. The flags come from :mod:`addrl_graph.cli.flags`, which ``data_builders``'s
command line uses too: dashed spellings next to the config keys', comma-separated lists, and
``tune``'s ``--trial-max-minutes`` (each trial's ``TrainConfig.max_minutes``; ``--max-minutes``
is the whole study's, config key ``study_max_minutes``).
"""
from __future__ import annotations

import itertools
from argparse import ArgumentError
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from jsonargparse import ActionConfigFile, ArgumentParser

from addrl_graph.cli.flags import (Flag, HelpFormatter, add_dataclass_flags, comma_separated,
                                   flag_spellings, instantiate, one_line_error)
from addrl_graph.nn.config import ABLATIONS, ModelConfig
from addrl_graph.errors import ConfigError
from addrl_graph.nn.registry import MODEL_NAMES
from addrl_graph.training.config import TrainConfig, config_file_dict

#: The commands this module parses, with their one-line help.
COMMANDS: dict[str, str] = {
    'train': 'train one model on a processed graph',
    'compare': 'train models (and ablations) once per seed; a table with paired tests',
    'tune': 'search the hyper-parameters of one model on validation Recall@20 (Optuna)',
}

#: Types that differ from the field's annotation: the lists also take comma-separated text
#: (``10,5``), ``ablation`` is limited to :data:`ABLATIONS`.
_TYPES: dict[str, Any] = {
    'num_neighbors': comma_separated(int) | None,
    'layer_weights': comma_separated(float) | None,
    'ablation': Literal[tuple(sorted(ABLATIONS))] | None,
}
_SKIP = {'compare': {'model', 'num_neighbors'}}  # compare trains every model, whole graphs
_RENAMED = {'tune': {'max_minutes': 'trial_max_minutes'}}  # --max-minutes is the study's

_DATA = dict(type=Path, required=True, help='processed graph folder')
#: Each command's own options besides the fields: keyword arguments of ``add_argument`` by
#: config key (``flags`` when the flag is not the key's spelling).
_OPTIONS: dict[str, dict[str, dict[str, Any]]] = {
    'train': {
        'data': _DATA,
        'out': dict(type=Path, required=True, help='run folder'),
        'resume': dict(action='store_true', help='continue the run in --out'),
    },
    'compare': {
        'data': _DATA,
        'out': dict(type=Path, required=True,
                    help='parent folder of the runs (<out>/<model>/seed-<s>), compare.json and '
                         'compare.md; a rerun trains only what is not finished'),
        'models': dict(type=comma_separated(str), default=list(MODEL_NAMES),
                       help=f'models to compare, comma-separated (default: all of '
                            f'{",".join(MODEL_NAMES)}); addrl is the reference of the tests'),
        'seeds': dict(type=comma_separated(int), default=[0],
                      help='seeds, comma-separated: every model trains once per seed'),
        'configs': dict(type=Path | None, default=None,
                        help='folder of <model>.yaml files (tune\'s best.yaml) giving each '
                             "model's tuned configuration; the budget flags stay the comparison's"),
        'ablations': dict(action='store_true',
                          help="also AD-DRL's ablations (Table 3), tested against the full model"),
        'workers': dict(type=int, default=1, help='runs training at once, one process each'),
    },
    'tune': {
        'data': _DATA,
        'out': dict(type=Path, required=True,
                    help='study folder: study.db, trials/<number>/, trials.csv, history.png, '
                         'best.yaml'),
        'trials': dict(type=int, required=True,
                       help='finished trials the study should hold (a rerun resumes the study)'),
        'space': dict(type=Path | None, default=None,
                      help='search-space file (YAML/JSON); default: the model\'s built-in space '
                           '(addrl_graph.training.tune.SPACES)'),
        'study_max_minutes': dict(
            flags=('--max-minutes',), type=float | None, default=None, metavar='MINUTES',
            help='wall-clock budget of the whole study (config key study_max_minutes); '
                 '--trial-max-minutes is the budget of each trial\'s run'),
        'storage': dict(type=str | None, default=None,
                        help='Optuna RDB URL that several machines share (default: SQLite in '
                             '--out)'),
        'workers': dict(type=int, default=1,
                        help='processes on this machine sharing the study and its cores'),
    },
}
_DESCRIPTIONS = {'tune': f'{COMMANDS["tune"]}. The TrainConfig, BaselineConfig and ModelConfig '
                         'flags set what the search space does not sample; --seed also seeds '
                         'the search.'}


@dataclass
class Command:
    """A parsed ``train``, ``compare`` or ``tune`` command line.

    Args:
        name: the command.
        options: its own options by config key (``data``, ``out``, ...).
        train_config / model_config: the validated configurations.
        print_config: ``--print-config`` was given.
    """
    name: str
    options: dict[str, Any]
    train_config: TrainConfig
    model_config: ModelConfig
    print_config: bool


def build_parser(name: str) -> tuple[ArgumentParser, dict[str, Flag]]:
    """The jsonargparse parser of command ``name`` (a key of :data:`COMMANDS`) and the flags
    generated from the dataclasses' fields (:func:`~addrl_graph.cli.flags.add_dataclass_flags`)."""
    parser = ArgumentParser(prog=f'addrl {name}', formatter_class=HelpFormatter,
                            description=_DESCRIPTIONS.get(name, COMMANDS[name]),
                            exit_on_error=False, print_config=None, allow_abbrev=False)
    parser.add_argument('--config', action=ActionConfigFile,
                        help='YAML or JSON file of the keys below (baseline nested); flags '
                             'override it')
    parser.add_argument('--print-config', action='store_true',
                        help='print the resolved configuration as YAML (a --config file) '
                             'and exit')
    for dest, spec in _OPTIONS[name].items():
        spec = dict(spec)
        parser.add_argument(*spec.pop('flags', flag_spellings(dest)), dest=dest, **spec)
    options = dict(skip=_SKIP.get(name, set()), rename=_RENAMED.get(name, {}), types=_TYPES)
    flags = add_dataclass_flags(parser, TrainConfig, **options)
    flags.update(add_dataclass_flags(parser, ModelConfig, **options))
    return parser, flags


def parse(name: str, argv: list[str]) -> Command:
    """Parse the arguments of command ``name``; raise :class:`ConfigError` with a one-line
    message naming the flag for an unknown key or a bad value, in a file or a flag."""
    parser, flags = build_parser(name)
    try:
        values = parser.parse_args(_files_first(argv)).as_dict()
    except ArgumentError as e:
        raise ConfigError(one_line_error(str(e), flags)) from None
    if values['out'].exists() and not values['out'].is_dir():
        raise ConfigError(f'--out names a file, but {name} writes a folder there: choose '
                          f'another --out (got {str(values["out"])!r})')
    return Command(name, {key: values[key] for key in _OPTIONS[name]},
                   instantiate(TrainConfig, values), instantiate(ModelConfig, values),
                   values['print_config'])


def _files_first(argv: list[str]) -> list[str]:
    """``argv`` with its ``--config FILE`` arguments moved to the front, so that every flag
    overrides the files (jsonargparse applies the arguments in order)."""
    files, rest, args = [], [], iter(argv)
    for arg in args:
        if arg == '--config':
            files += [arg, *itertools.islice(args, 1)]
        elif arg.startswith('--config='):
            files.append(arg)
        else:
            rest.append(arg)
    return files + rest


def to_yaml(command: Command) -> str:
    """The configuration of ``command`` as a ``--config`` file that reproduces it: its options,
    then every field (``train``/``tune``: resolved with :meth:`TrainConfig.resolved`, so the
    file says what will run; ``compare``: :obj:`None` stays, each model's own default)."""
    train_config = command.train_config
    if command.name != 'compare':
        train_config = train_config.resolved()
    values = {**command.options, **config_file_dict(train_config, command.model_config)}
    values = {k: str(v) if isinstance(v, Path) else v for k, v in values.items()
              if k not in _SKIP.get(command.name, ())}
    return yaml.safe_dump(values, sort_keys=False, default_flow_style=None)
