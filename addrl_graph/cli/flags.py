"""Command-line flags generated from dataclasses, one typed flag per field.

:func:`add_dataclass_flags` adds every field of a dataclass to a jsonargparse parser: the type
from the field's annotation (or an override), the default from the field, the help from the
field's entry in the class docstring (``Args:``), spelled both ``--k-core`` and ``--k_core``
(the dashed flag people type and the config key). A field that is itself a dataclass becomes
``--<field>.<name>`` flags. :func:`instantiate` turns the parsed values back into the dataclass,
and :func:`one_line_error` turns jsonargparse's multi-line error into one line naming the flag.

Why jsonargparse: it reads each flag's type from a typing annotation (``int | None``,
``Literal[...]``, ``list[float]``, ``pathlib.Path``) and checks values from the command line and
from YAML/JSON config files alike, with nested keys and unknown keys rejected. Generating the
flags from the dataclasses means a new field gets its flag, its help and its default with no
list of flags to keep in step. Range checks stay in the dataclasses' ``validate()``.

Two types cover the spellings typing annotations cannot: :func:`comma_separated` (``10,5`` as
well as ``[10, 5]``) and :func:`optional` (words such as ``leaf`` or ``none`` for ``None``).
"""
from __future__ import annotations

import dataclasses
import functools
import re
import typing
from collections.abc import Callable, Collection, Mapping
from typing import Any, Literal, NamedTuple

import docstring_parser
from jsonargparse import ActionYesNo, ArgumentParser, DefaultHelpFormatter
from jsonargparse.typing import register_type


class Flag(NamedTuple):
    """One generated flag: its spelling in messages and the type the parser checks."""
    name: str
    type: Any


class HelpFormatter(DefaultHelpFormatter):
    """jsonargparse's help (types and defaults), naming a flag's spellings once:
    ``--d-chunk, --d_chunk D_CHUNK``."""

    def _format_action_invocation(self, action) -> str:
        if action.nargs == 0 or len(action.option_strings) < 2:
            return super()._format_action_invocation(action)
        metavar = self._format_args(action, self._get_default_metavar_for_optional(action))
        return f'{", ".join(action.option_strings)} {metavar}'


def flag_spellings(key: str) -> list[str]:
    """``d_chunk`` → ``['--d-chunk', '--d_chunk']``: the dashed flag and the config key's
    spelling (one flag when they are the same)."""
    return list(dict.fromkeys([f'--{key.replace("_", "-")}', f'--{key}']))


def plain(text: str) -> str:
    """Docstring text on one line, without reST markup or the ``(default: ...)`` that the help
    adds anyway."""
    text = re.sub(r'\s*\(default:[^)]*\)\s*$', '', ' '.join(text.split()))
    return re.sub(r':\w+:`~?([^`]*)`', r'\1', text).replace('``', '')


def field_helps(cls: type) -> dict[str, str]:
    """The ``Args:`` entries of ``cls``'s docstring by field name, on one line each; an entry
    for several fields (``text_features / image_features:``) gives each of them its text."""
    helps = {}
    for param in docstring_parser.parse(cls.__doc__ or '').params:
        for name in param.arg_name.split('/'):
            helps[name.strip()] = plain(param.description or '')
    return helps


def add_dataclass_flags(parser: ArgumentParser, cls: type, *, prefix: str = '',
                        skip: Collection[str] = (), rename: Mapping[str, str] | None = None,
                        types: Mapping[str, Any] | None = None,
                        switches: bool = False) -> dict[str, Flag]:
    """Add one flag per field of dataclass ``cls`` to ``parser``, in an argument group named
    after the class (its description: the docstring's first paragraph).

    Args:
        parser: the parser (or subcommand parser) to add to.
        cls: a dataclass whose docstring has an ``Args:`` entry for every field added.
        prefix: put before every key (``'baseline.'`` gives ``--baseline.l2``).
        skip: keys not to add (the caller sets those fields itself).
        rename: flag spelling by key, where it differs from the key (``{'names':
            'attributes'}`` adds ``--attributes`` for the field ``names``).
        types: type by key, where the parser should check another type than the annotation
            (a ``Literal`` of choices, :func:`comma_separated`, :func:`optional`).
        switches: ``bool`` fields become switches taking no value (``--strict`` /
            ``--no-strict``) instead of flags that take ``true`` / ``false``.

    A field without a default is a required flag. A field whose type is a dataclass becomes
    the flags of its own fields under ``<key>.`` (same ``skip``, ``rename``, ``types``).

    Returns:
        The flags added (nested ones too) by key, which is also the parsed value's key.
    """
    rename, types = rename or {}, types or {}
    helps = field_helps(cls)
    title = f'{cls.__name__} (--{prefix}*)' if prefix else cls.__name__
    group = parser.add_argument_group(title, plain((cls.__doc__ or '').split('\n\n')[0]))
    hints = typing.get_type_hints(cls)
    added: dict[str, Flag] = {}
    for field in dataclasses.fields(cls):
        key = prefix + field.name
        hint = types.get(key, hints[field.name])
        if key in skip:
            continue
        if dataclasses.is_dataclass(hint):
            added.update(add_dataclass_flags(parser, hint, prefix=f'{key}.', skip=skip,
                                             rename=rename, types=types, switches=switches))
            continue
        if field.name not in helps:
            raise TypeError(f'{cls.__name__}.{field.name} has no entry in the Args: section of '
                            'its docstring (the help of its flag)')
        spellings = flag_spellings(rename.get(key, key))
        options: dict[str, Any] = dict(dest=key, help=helps[field.name])
        if hint is bool and switches:
            options['action'] = ActionYesNo(yes_prefix='', no_prefix='no-')
        else:
            options['type'] = hint
        if field.default is not dataclasses.MISSING:
            options['default'] = field.default
        elif field.default_factory is not dataclasses.MISSING:
            options['default'] = field.default_factory()
        else:
            options['required'] = True
        group.add_argument(*spellings, **options)
        added[key] = Flag(spellings[0], hint)
    return added


def instantiate(cls: type, values: Mapping[str, Any], **overrides: Any) -> Any:
    """``cls`` built from the parsed ``values`` of its fields (a nested mapping for a dataclass
    field) and ``overrides``; keys of other classes in ``values`` are ignored."""
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for field in dataclasses.fields(cls):
        if field.name in overrides or field.name not in values:
            continue
        value = values[field.name]
        if dataclasses.is_dataclass(hints[field.name]) and isinstance(value, Mapping):
            value = instantiate(hints[field.name], value)
        kwargs[field.name] = value
    return cls(**kwargs, **overrides)


class _NamedType(type):
    """A class whose name is its description in help and errors (``comma-separated int``)."""

    def __repr__(cls) -> str:
        return cls.__name__

    __str__ = __repr__


def _registered(name: str, load: Callable[[Any], Any]) -> type:
    """A parser type named ``name`` whose values are ``load(value)``; a value ``load`` cannot
    take fails as ``expected <name> (got <value>)``."""
    def checked(value: Any) -> Any:
        try:
            return load(value)
        except (TypeError, ValueError):
            raise ValueError(f'expected {name} (got {value!r})') from None

    cls = _NamedType(name, (), {'__doc__': f'Parser type: {name}.'})
    register_type(cls, serializer=lambda value: value, deserializer=checked)
    return cls


@functools.cache
def comma_separated(item_type: type) -> type:
    """A parser type for ``list[item_type]`` that also takes comma-separated text:
    ``--num-neighbors 10,5`` as well as ``[10, 5]`` (blank items are dropped)."""
    def load(value: Any) -> list:
        items = value.split(',') if isinstance(value, str) else value
        if not isinstance(items, (list, tuple)):
            raise ValueError(value)
        return [item_type(v.strip() if isinstance(v, str) else v) for v in items
                if not (isinstance(v, str) and not v.strip())]
    return _registered(f'comma-separated {item_type.__name__}', load)


@functools.cache
def optional(item_type: type, *none_words: str) -> type:
    """A parser type for ``item_type | None`` where ``None`` is spelled by any of
    ``none_words`` (any case), e.g. ``optional(int, 'leaf', 'none')``."""
    def load(value: Any) -> Any:
        if value is None or (isinstance(value, str) and value.strip().lower() in none_words):
            return None
        return item_type(value)
    return _registered(' | '.join([item_type.__name__, *none_words]), load)


def type_name(hint: Any) -> str:
    """How a parser type reads in a message: ``int | None``, ``one of 'paper', 'mmrec'``."""
    if typing.get_origin(hint) is Literal:
        return 'one of ' + ', '.join(repr(v) for v in typing.get_args(hint))
    if isinstance(hint, type) and not typing.get_args(hint):
        return hint.__name__
    text = re.sub(r"<class '(?:\w+\.)*(\w+)'>", r'\1', str(hint)).replace('typing.', '')
    return re.sub(r'\b(?:[a-z_]\w*\.)+(?=[A-Za-z_])', '', text).replace('NoneType', 'None')


def one_line_error(message: str, flags: Mapping[str, Flag]) -> str:
    """jsonargparse's error on one line, naming flags rather than keys: a type error
    (``Parser key "k_core": ... Given value: abc``, several lines) as ``--k-core: expected
    int (got 'abc')``, and ``required: build.format`` as ``required: --format``."""
    key = re.match(r'Parser key "([^"]+)"', message)
    got = re.search(r'(?:Given|Got) value: (.*)$', message)
    flag = _find(flags, key.group(1)) if key else None
    if flag is not None and got is not None:
        return f'{flag.name}: expected {type_name(flag.type)} (got {got.group(1)!r})'
    detail = re.search(r'Not of type [^:]*: (.*)$', message)
    if flag is not None and detail is not None:          # a type of comma_separated / optional
        return f'{flag.name}: {detail.group(1)}'
    required = re.match(r'the following arguments are required: (.*)$', message)
    if required:
        keys = [k.strip() for k in required.group(1).split(',')]
        names = [getattr(_find(flags, k), 'name', k) for k in keys]
        return f'the following arguments are required: {", ".join(names)}'
    return ' '.join(message.split())


def _find(flags: Mapping[str, Flag], key: str) -> Flag | None:
    """The flag of ``key``, also when the key carries a subcommand's name (``build.format``)."""
    while key not in flags and '.' in key:
        key = key.split('.', 1)[1]
    return flags.get(key)
