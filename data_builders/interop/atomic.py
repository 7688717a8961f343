"""Tab-separated tables with a header, as MMRec and RecBole write them.

RecBole's atomic files (``.inter``, ``.item``) name each column ``name:type`` with type
``token``, ``token_seq``, ``float`` or ``float_seq``; MMRec's ``.inter`` and id mappings name
them plainly. Both are read as strings (pandas, no quoting: RecBole reads its files without
it) so that no id is turned into a number, and written the same way; a value holding a tab or
a line break has no way into such a file and is refused.
"""
from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from data_builders.errors import DataBuildError

TYPES = ('token', 'token_seq', 'float', 'float_seq')


def read_table(path: Path, required: Sequence[str] = ()) -> pd.DataFrame:
    """All columns of a tab-separated file as strings (missing values ``''``).

    Raises:
        DataBuildError: the file cannot be read, or lacks a ``required`` column.
    """
    try:
        frame = pd.read_csv(path, sep='\t', dtype=str, keep_default_na=False,
                            quoting=csv.QUOTE_NONE, encoding='utf-8')
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise DataBuildError(f'{path}: not a readable tab-separated file (got {exc})') from None
    frame.columns = [c.strip() for c in frame.columns]
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise DataBuildError(f'{path}: missing column(s) {missing} (got {list(frame.columns)})')
    return frame


def split_header(frame: pd.DataFrame, path: Path) -> dict[str, tuple[str, str]]:
    """RecBole field name → (column, type), from a header of ``name:type`` columns.

    Raises:
        DataBuildError: a column without a known type.
    """
    fields = {}
    for column in frame.columns:
        name, _, kind = column.rpartition(':')
        if not name or kind not in TYPES:
            raise DataBuildError(f'{path}: column {column!r} is not name:type with a type of '
                                 f'{TYPES}')
        fields[name] = (column, kind)
    return fields


def column(frame: pd.DataFrame, fields: dict[str, tuple[str, str]], name: str,
           path: Path) -> list[str]:
    """The values of RecBole field ``name`` (a ``token``)."""
    if name not in fields:
        raise DataBuildError(f'{path}: no {name}:token column (got {list(frame.columns)})')
    return frame[fields[name][0]].tolist()


def check_values(values: Sequence[str], what: str) -> None:
    """Refuse a value a tab-separated file cannot hold."""
    for value in values:
        if any(ch in value for ch in '\t\n\r'):
            raise DataBuildError(f'{what} {value!r} holds a tab or a line break, which a '
                                 'tab-separated file cannot hold')


def write_table(path: Path, columns: dict[str, Sequence]) -> None:
    """Write ``columns`` (name → values, all of one length) tab-separated, no quoting."""
    for name, values in columns.items():
        check_values([str(v) for v in values], f'{path.name}: {name} value')
    pd.DataFrame(columns).to_csv(path, sep='\t', index=False, quoting=csv.QUOTE_NONE)
