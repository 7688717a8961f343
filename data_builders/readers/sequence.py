"""Line parser for time-ordered interaction sequences (``--format sequence``).

One user a line, ``user_id item_id item_id ...`` separated by whitespace, each user's items
oldest first: the ``user_sequence.txt`` files of the P5 / GRAM family of recommenders (the
Amazon 2014 5-cores in ``../shared/data/amazon-2014-sports-interactions``). There are no
ratings, times, texts or metadata; the order of the records is the time order
(:data:`~data_builders.readers.read.TIME_ORDERED`), which the ``temporal`` and ``loo`` splits
read (:func:`data_builders.split.time_order`).

A line whose first token is not an id, or that has no item after it, raises
:class:`~data_builders.readers.lines.LineError` (``missing_item_id``, ``bad_id``);
:mod:`data_builders.readers.read` reads files with this parser, one record per item.
"""
from __future__ import annotations

from data_builders.readers.fields import Issues
from data_builders.readers.lines import LineError, require_id
from data_builders.readers.records import Review


def parse_review(line: str, issues: Issues | None = None) -> list[Review]:
    """One sequence line → its :class:`Review` records, oldest first (``issues`` is unused:
    the line has no optional field)."""
    tokens = line.split()
    if tokens and tokens[0].startswith(('{', '[', '"')):
        raise LineError('not_sequence', 'a JSON line, not "user item item ..."')
    if len(tokens) < 2:
        raise LineError('missing_item_id', f'user {tokens[0][:40]!r} has no item after it'
                        if tokens else 'blank line')
    user = require_id({'user': tokens[0]}, ('user',), 'missing_user_id')
    return [Review(user_id=user, item_id=require_id({'item': t}, ('item',), 'missing_item_id'))
            for t in tokens[1:]]
