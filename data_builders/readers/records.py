"""Format-independent records that every Amazon reader yields.

The three dump formats (2014, 2018, 2023) differ in field names and types; their readers turn
each line into one of these dataclasses so the rest of the pipeline sees one shape.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class Review:
    """One interaction line of a review dump."""
    user_id: str
    item_id: str
    rating: float | None = None
    timestamp: int | None = None
    text: str = ''          # review body plus summary/title, '' when absent


@dataclass(slots=True)
class ItemMeta:
    """One metadata line. Every field but ``item_id`` may be missing."""
    item_id: str
    title: str = ''
    price: float | None = None          # in (0, fields.MAX_PRICE] or None
    brand: str | None = None
    categories: list[list[str]] = field(default_factory=list)   # category paths, root first
    sales_rank: int | None = None       # best (smallest) rank found, or None
    image_urls: list[str] = field(default_factory=list)         # best resolution first
    description: str = ''
    extra: dict[str, Any] = field(default_factory=dict)         # other scalar fields (``details``)


#: ``ReadStats.skipped`` key of a metadata line whose item an earlier line already described.
DUPLICATE_ITEM = 'duplicate_item'


@dataclass
class ReadStats:
    """Lines read and lines skipped per reason for one file."""
    path: str
    lines: int = 0
    kept: int = 0
    skipped: Counter = field(default_factory=Counter)

    def as_dict(self) -> dict[str, Any]:
        return {'path': self.path, 'lines': self.lines, 'kept': self.kept,
                'skipped': dict(self.skipped)}
