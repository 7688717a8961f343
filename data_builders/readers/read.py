"""Read Amazon review and metadata dumps (2014, 2018, 2023 formats) and time-ordered
interaction sequences (``sequence``: no metadata) into records.

One private core (:func:`_read`) owns the line policy — counting, skipping, ``strict`` — and
each format module (:mod:`~data_builders.readers.amazon_2014`,
:mod:`~data_builders.readers.amazon_2018`, :mod:`~data_builders.readers.amazon_2023`,
:mod:`~data_builders.readers.sequence`) only turns one decoded line into a
:class:`~data_builders.readers.records.Review` (a list of them for a sequence line: ``lines``
and ``kept`` count lines) or :class:`~data_builders.readers.records.ItemMeta`, with the line
helpers of
:mod:`~data_builders.readers.lines` and the field coercers of
:mod:`~data_builders.readers.fields`.

Skip reasons (keys of ``ReadStats.skipped``). A line is dropped, and counted once, for:

- ``non_utf8``: the line is not valid UTF-8.
- ``bad_json``: not a JSON value (2014/2018/2023 reviews, 2018/2023 metadata).
- ``bad_literal``: 2014 metadata that is neither JSON nor a Python literal. Parsed with
  ``ast.literal_eval`` only, so a line holding code is rejected here and never run.
- ``line_too_long``: 2014 metadata line over
  :data:`~data_builders.readers.lines.MAX_LITERAL_CHARS` characters.
- ``not_object``: parses, but is not a JSON object / dict.
- ``missing_user_id`` / ``missing_item_id``: the id is absent, null or blank.
- ``bad_type``: the id is neither a string nor an integer.
- ``bad_id``: the id holds a character that is not printable (a control or format character,
  a lone surrogate, ...: :func:`~data_builders.readers.lines.require_id`).
- ``not_sequence``: a ``sequence`` line that starts like JSON.
- ``duplicate_item``: a metadata line of an item that an earlier line already described; the
  first line of each item wins (counted by the build for the items of its graph,
  :func:`data_builders.build.read_item_meta`).

Keys starting with ``invalid_`` count *fields* that were unusable on lines that were kept: the
field is set to ``None`` / empty and the line is still yielded (``invalid_price``,
``invalid_rank``, ``invalid_rating``, ``invalid_timestamp``, ``invalid_text``,
``invalid_title``, ``invalid_brand``, ``invalid_categories``, ``invalid_images``,
``invalid_description``; a price that is not finite, not positive or over
:data:`~data_builders.readers.fields.MAX_PRICE` is ``invalid_price``). A field that is simply
absent or empty is not counted. So
``stats.lines == stats.kept + (sum of the counts whose key does not start with 'invalid_')``.

Duplicate reviews or items are *not* removed here; cleaning (reviews) and the build (items)
do that later.
"""
from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import data_builders.readers.amazon_2014 as amazon_2014
import data_builders.readers.amazon_2018 as amazon_2018
import data_builders.readers.amazon_2023 as amazon_2023
import data_builders.readers.sequence as sequence
from data_builders.errors import DataBuildError
from data_builders.readers.fields import Issues
from data_builders.readers.files import check_file, open_raw_lines
from data_builders.readers.lines import LineError
from data_builders.readers.records import ItemMeta, ReadStats, Review

logger = logging.getLogger(__name__)

#: The line parsers of each dump format: ``(parse_review, parse_meta)``; ``None``: the
#: format has no metadata dumps.
PARSERS = {'2014': (amazon_2014.parse_review, amazon_2014.parse_meta),
           '2018': (amazon_2018.parse_review, amazon_2018.parse_meta),
           '2023': (amazon_2023.parse_review, amazon_2023.parse_meta),
           'sequence': (sequence.parse_review, None)}
FORMATS = tuple(PARSERS)
#: Formats whose review records come in time order (and carry no timestamps).
TIME_ORDERED = ('sequence',)

T = TypeVar('T')

#: Why a format without metadata dumps cannot read one (``fmt`` filled in).
NO_META = ('--format {fmt} has no metadata dumps: build without --meta (the popularity '
           'attribute is then derived from the interactions)')


def read_reviews(path: str | os.PathLike, fmt: str, stats: ReadStats | None = None,
                 strict: bool = False) -> Iterator[Review]:
    """Stream the reviews of one dump file.

    Args:
        path: ``.json``/``.jsonl`` file, gzipped or not (detected from the content).
        fmt: ``'2014'``, ``'2018'``, ``'2023'`` (an int works too) or ``'sequence'``.
        stats: filled while iterating: lines read, kept, and skipped per reason (see the module
            docstring for the keys). Pass one to see what was dropped.
        strict: raise on the first line that would be skipped instead of counting it.

    Raises:
        DataBuildError: bad ``fmt`` or unusable file (at call time); a truncated gzip (when it
            is reached); with ``strict``, the first bad line as ``'<path>:<line>: <reason> ...'``.
    """
    return _read(path, fmt, 'review', stats, strict)


def read_meta(path: str | os.PathLike, fmt: str, stats: ReadStats | None = None,
              strict: bool = False) -> Iterator[ItemMeta]:
    """Stream the item metadata of one dump file. Arguments as :func:`read_reviews`."""
    return _read(path, fmt, 'meta', stats, strict)



def _parser(fmt: str, kind: str) -> Callable[[str, Issues], Any]:
    fmt = str(fmt)
    if fmt not in PARSERS:
        raise DataBuildError(f'fmt must be one of {", ".join(FORMATS)} (got {fmt!r})')
    parse_review, parse_meta = PARSERS[fmt]
    if kind == 'meta' and parse_meta is None:
        raise DataBuildError(NO_META.format(fmt=fmt))
    return parse_review if kind == 'review' else parse_meta


def _read(path: str | os.PathLike, fmt: str, kind: str, stats: ReadStats | None,
          strict: bool) -> Iterator[Any]:
    parse = _parser(fmt, kind)
    check_file(path)                                   # fail at call time, not first next()
    stats = stats if stats is not None else ReadStats(path=str(path))
    return _records(path, parse, stats, strict)


def _records(path: str | os.PathLike, parse: Callable[[str, Issues], T], stats: ReadStats,
             strict: bool) -> Iterator[T]:
    for lineno, raw in open_raw_lines(path):
        stats.lines += 1
        issues: Issues = []
        try:
            record = parse(_decode(raw, first=lineno == 1), issues)
        except LineError as err:
            if strict:
                raise DataBuildError(f'{path}:{lineno}: {err}; fix or delete the line, or read '
                                     'without strict to skip and count such lines') from None
            stats.skipped[err.reason] += 1
            continue
        stats.kept += 1
        stats.skipped.update(issues)
        if isinstance(record, list):
            yield from record
        else:
            yield record
    _log(stats)


def _decode(raw: bytes, first: bool) -> str:
    try:
        text = raw.decode('utf-8')
    except UnicodeDecodeError as err:
        raise LineError('non_utf8', f'{err.reason} at byte {err.start}') from None
    return text.lstrip('\ufeff') if first else text


def _log(stats: ReadStats) -> None:
    dropped = {k: v for k, v in stats.skipped.items() if not k.startswith('invalid_')}
    logger.info('%s: %d lines, %d kept, skipped %s, fields dropped %s', stats.path,
                stats.lines, stats.kept, dropped or 'none',
                {k: v for k, v in stats.skipped.items() if k not in dropped} or 'none')
    if dropped:
        logger.warning('%s: skipped %d malformed lines %s', stats.path, sum(dropped.values()),
                       dropped)

