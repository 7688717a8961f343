"""One decoded line → a JSON object, or :class:`LineError` naming why the line is skipped.

2014 metadata lines are Python dict literals, parsed with ``ast.literal_eval`` only (never
``eval``); every other line is JSON. The ids a record cannot do without are taken here too.
"""
from __future__ import annotations

import ast
import json
import warnings
from collections.abc import Mapping
from typing import Any

from data_builders.readers.fields import is_empty

MAX_LITERAL_CHARS = 1_000_000   # longer 2014 literal lines are skipped ('line_too_long')


class LineError(Exception):
    """One line cannot become a record. ``reason`` is its ``ReadStats.skipped`` key."""

    def __init__(self, reason: str, detail: str = '') -> None:
        super().__init__(f'{reason}: {detail}' if detail else reason)
        self.reason = reason
        self.detail = detail



def load_json_object(line: str) -> dict:
    """Parse one JSON line that must be an object (``bad_json`` / ``not_object``)."""
    try:
        value = json.loads(line)
    except (ValueError, RecursionError) as err:
        raise LineError('bad_json', str(err)[:80]) from None
    return _require_dict(value)


def load_literal_object(line: str) -> dict:
    """Parse one 2014 metadata line: JSON when it looks like JSON, else a Python literal.

    Uses ``ast.literal_eval`` (never ``eval``): only literals are accepted, so a line holding a
    call such as ``__import__('os')`` fails with ``bad_literal`` and is never executed.
    """
    if len(line) > MAX_LITERAL_CHARS:
        raise LineError('line_too_long', f'{len(line)} characters > {MAX_LITERAL_CHARS}')
    if line.startswith('{"'):
        try:
            return _require_dict(json.loads(line))
        except (ValueError, RecursionError):
            pass                                # fall through: may still be a literal
    try:
        with warnings.catch_warnings():          # "invalid escape sequence" in mangled lines
            warnings.simplefilter('ignore', (DeprecationWarning, SyntaxWarning))
            value = ast.literal_eval(line)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError) as err:
        raise LineError('bad_literal', f'not a Python dict literal ({type(err).__name__})') \
            from None
    return _require_dict(value)


def _require_dict(value: Any) -> dict:
    if not isinstance(value, dict):
        raise LineError('not_object', f'expected an object, got {type(value).__name__}')
    return value


def require_id(obj: Mapping, keys: tuple[str, ...], reason: str) -> str:
    """The first non-blank id among ``keys`` (a fallback chain), stripped; ``reason`` if none.

    Integers are accepted and turned into strings; any other type is ``bad_type``. An id must
    be printable (:meth:`str.isprintable`): one holding a control character (``\\x1b``,
    ``\\x00``), a format character (zero-width, bidi overrides), a lone surrogate (from a
    ``\\ud800`` escape), a private-use or unassigned code point or a separator other than
    the space is ``bad_id`` (ids reach terminals and file names verbatim).
    """
    value = next((obj[k] for k in keys if not is_empty(obj.get(k))), None)
    if value is None:
        raise LineError(reason, f'no {" or ".join(keys)} (absent, null or blank)')
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        raise LineError('bad_type', f'{keys[0]} must be a string (got {type(value).__name__})')
    value = value.strip()
    if not value.isprintable():
        char = next(c for c in value if not c.isprintable())
        raise LineError('bad_id', f'{keys[0]} holds the unprintable character {char!r}')
    return value
