"""Tell a dump's format from its first lines, so that a wrong ``--format`` is named at once.

Every format's lines parse under some other format's reader too, or fail line by line with
reasons that do not say why (a 2018 metadata dump read as 2014 gives items without categories;
2014 metadata read as 2018 is all ``bad_json``). The keys each format alone uses tell them
apart: :func:`check_format` looks at the first :data:`SAMPLE_LINES` lines and refuses a dump
whose keys belong to another format only. A dump with none of the telling keys passes, unless
it is read as JSON and its lines are ``user item item ...`` sequences (then ``--format
sequence`` is named); a JSON dump read as ``sequence`` is named by its keys, and a metadata
dump is refused for a format without one.
"""
from __future__ import annotations

import contextlib
import itertools
import os

from data_builders.errors import DataBuildError
from data_builders.readers.files import open_raw_lines
from data_builders.readers.lines import LineError, load_literal_object
from data_builders.readers.read import NO_META

SAMPLE_LINES = 20
_REVIEWS_2014 = frozenset({'reviewerID', 'reviewTime', 'unixReviewTime', 'overall'})
#: Keys that only one format's lines have, per kind of dump (2014 and 2018 reviews share
#: theirs: one parser reads both).
TELLING_KEYS = {
    'review': {'2014': _REVIEWS_2014, '2018': _REVIEWS_2014,
               '2023': frozenset({'user_id', 'parent_asin', 'helpful_vote',
                                  'verified_purchase'}),
               'sequence': frozenset()},
    'meta': {'2014': frozenset({'salesRank', 'imUrl', 'related'}),
             '2018': frozenset({'category', 'rank', 'main_cat', 'image', 'imageURL',
                                'imageURLHighRes', 'also_buy', 'also_view', 'tech1', 'tech2',
                                'similar_item'}),
             '2023': frozenset({'parent_asin', 'main_category', 'store', 'images', 'videos',
                                'average_rating', 'rating_number', 'bought_together'})},
}


def sample_lines(path: str | os.PathLike) -> list[str]:
    """The first :data:`SAMPLE_LINES` non-blank lines, decoded (bad bytes replaced)."""
    with contextlib.closing(open_raw_lines(path)) as lines:
        return [raw.decode('utf-8', errors='replace')
                for _, raw in itertools.islice(lines, SAMPLE_LINES)]


def sample_keys(path: str | os.PathLike) -> list[set[str]]:
    """The top-level keys of each of the first :data:`SAMPLE_LINES` lines that parse as an
    object (JSON or a Python literal)."""
    keys = []
    for line in sample_lines(path):
        try:
            keys.append(set(load_literal_object(line)))
        except LineError:
            continue
    return keys


def looks_like_sequences(lines: list[str]) -> bool:
    """Whether every line is ``user item item ...``: two or more whitespace-separated tokens,
    none with a JSON or literal bracket or quote."""
    return bool(lines) and all(len(line.split()) >= 2 and not any(c in line for c in '{}[]"\'')
                               for line in lines)


def check_format(path: str | os.PathLike, fmt: str, kind: str) -> None:
    """Raise when the first lines of ``path`` have another format's telling keys and none of
    ``fmt``'s.

    Args:
        path: the dump.
        fmt: the format it is read as (``--format``).
        kind: ``'review'`` or ``'meta'``.

    Raises:
        DataBuildError: naming the format(s) the lines look like and the ``--format`` to pass
            (``sequence`` for JSON-less ``user item ...`` lines read as JSON), or a metadata
            dump given for a format without one.
    """
    telling = TELLING_KEYS[kind]
    if fmt not in telling:
        raise DataBuildError(f'{path}: {NO_META.format(fmt=fmt)}')
    lines = sample_keys(path)
    hits = {f: sum(bool(k & keys) for k in lines) for f, keys in telling.items()}
    if not lines and fmt != 'sequence' and kind == 'review' \
            and looks_like_sequences(sample_lines(path)):
        raise DataBuildError(f'{path}: its lines look like "user item item ..." sequences, not '
                             f'{fmt} JSON lines: pass --format sequence (got --format {fmt})')
    if hits[fmt] or not any(hits.values()):
        return
    best = [f for f, n in hits.items() if n == max(hits.values())]
    seen = sorted(set().union(*lines) & set().union(*(telling[f] for f in best)))
    raise DataBuildError(
        f'{path}: its lines look like {" or ".join(best)} {kind} lines (keys {", ".join(seen)}), '
        f'not {fmt}: pass --format {" or --format ".join(best)} (got --format {fmt})')
