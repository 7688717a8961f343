"""What people read next to ids: item titles and image URLs, and short names for tables.

A graph's ``meta.json`` may hold ``item_titles`` and ``item_image_urls``, two lists aligned
with ``meta['items']`` (a string or ``None`` each), written by the builder from the dumps'
metadata. :class:`ItemCatalog` reads them; a graph built before they existed has neither and
every title is ``None`` (labels fall back to the item id).

Attribute values ``unknown`` and ``other`` are the builder's catch-alls (no value in the
dump; a value too rare to be a class of its own): :func:`is_catch_all` names them, so that
studies never report them as a preference.

:func:`short_names` shortens names for a fixed-width column without making two of them read
alike. It is written here because a plain cut (``textwrap.shorten``, ``name[:12]``) is not
unique: "Nail Polish Remover" cut at 12 reads "Nail Polish…", which a reader takes for the
value "Nail Polish". A shortened name is a head, ``…`` and a tail; it must match exactly one
of the names (head a prefix, tail a suffix), so here it becomes "Nail…Remover".
"""
from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

#: Value names the builder gives missing values and values too rare for a class of their own.
UNKNOWN, OTHER = 'unknown', 'other'
CATCH_ALL = frozenset({UNKNOWN, OTHER})
#: Meta.json keys of the optional per-item lists.
TITLES_KEY, IMAGE_URLS_KEY = 'item_titles', 'item_image_urls'
ELLIPSIS = '…'


def is_catch_all(value: Any) -> bool:
    """Whether an attribute value is the builder's ``unknown`` or ``other``."""
    return str(value) in CATCH_ALL


def cut(text: str, width: int | None) -> str:
    """``text`` cut to ``width`` characters, the last one ``…`` when cut (``None``: whole)."""
    if width is None or len(text) <= width:
        return text
    return text[:max(width - 1, 0)].rstrip() + ELLIPSIS


def _matches(name: str, head: str, tail: str) -> bool:
    return len(name) >= len(head) + len(tail) and name.startswith(head) and name.endswith(tail)


def _candidates(name: str, width: int) -> list[tuple[str, str]]:
    """``(head, tail)`` pairs that fit ``width`` with the ``…``, best first: no tail, then
    whole trailing words (the last, the last two, …), then character tails."""
    budget = width - 1
    word_tails = [name[j:] for j in range(len(name) - 1, 0, -1)
                  if name[j - 1] == ' ' and name[j] != ' ']
    tails = [''] + [t for t in word_tails if len(t) < budget]
    tails += [name[-n:] for n in range(1, budget) if name[-n:] not in tails]
    return [(name[:budget - len(t)].rstrip(), t) for t in tails if budget - len(t) >= 1]


def short_names(names: Sequence[str], width: int = 16) -> list[str]:
    """Each of ``names`` in at most ``width`` characters, no two alike.

    A name that fits is kept whole. A longer one becomes ``head…tail`` (see the module
    docstring), the first split in :func:`_candidates` order whose head and tail match no
    other name. A name that no split tells apart (two long names that differ only in their
    middle) is kept whole, wider than ``width``: longer is better than ambiguous.

    Args:
        names: the names of one column set (e.g. an attribute's values).
        width: the most characters of a shortened name (>= 4).

    Example:
        >>> short_names(['Nail Polish', 'Nail Polish Remover'], 12)
        ['Nail Polish', 'Nail…Remover']
    """
    if width < 4:
        raise ValueError(f'width must be >= 4 (got {width})')
    names = [str(n) for n in names]
    ordered = sorted(set(names))            # the names sharing a head are one slice of it
    out = []
    for name in names:
        short = name
        if len(name) > width:
            for head, tail in _candidates(name, width):
                start = bisect.bisect_left(ordered, head)
                stop = bisect.bisect_left(ordered, head + '\U0010ffff', start)
                if not any(_matches(other, head, tail) for other in ordered[start:stop]
                           if other != name):
                    short = head + ELLIPSIS + tail
                    break
        out.append(short)
    return out


def _aligned(meta: dict[str, Any], key: str) -> list[str | None]:
    values = meta.get(key)
    if values is None:
        return [None] * len(meta['items'])
    return [v if isinstance(v, str) and v else None for v in values]


@dataclass(frozen=True)
class ItemCatalog:
    """Titles and image URLs of a graph's items, addressed by item index or item id.

    Args:
        items: item ids (``asin``) in item-index order ``[I]``.
        titles: ``[I]`` title or ``None`` each.
        image_urls: ``[I]`` image URL or ``None`` each.
    """
    items: tuple[str, ...]
    titles: tuple[str | None, ...]
    image_urls: tuple[str | None, ...]

    @classmethod
    def from_meta(cls, meta: dict[str, Any]) -> ItemCatalog:
        """The catalog of a graph's ``meta.json`` (all titles ``None`` where it has none)."""
        return cls(tuple(meta['items']), tuple(_aligned(meta, TITLES_KEY)),
                   tuple(_aligned(meta, IMAGE_URLS_KEY)))

    def __post_init__(self) -> None:
        for name in ('titles', 'image_urls'):
            if len(getattr(self, name)) != len(self.items):
                raise ValueError(f'{name} must have one entry per item ({len(self.items)}) '
                                 f'(got {len(getattr(self, name))})')
        object.__setattr__(self, '_index', {a: i for i, a in enumerate(self.items)})

    def __len__(self) -> int:
        return len(self.items)

    @property
    def has_titles(self) -> bool:
        """Whether any item has a title."""
        return any(t is not None for t in self.titles)

    def index(self, item: int | str) -> int:
        """Item index of ``item`` (an index is checked and returned; an id is looked up)."""
        if isinstance(item, str):
            if item not in self._index:        # type: ignore[attr-defined]
                raise KeyError(f'unknown item id {item!r}')
            return self._index[item]           # type: ignore[attr-defined]
        i = int(item)
        if not 0 <= i < len(self.items):
            raise IndexError(f'item index must be in [0, {len(self.items)}) (got {i})')
        return i

    def item_id(self, item: int | str) -> str:
        return self.items[self.index(item)]

    def title(self, item: int | str) -> str | None:
        """The item's title, ``None`` where the dump had none."""
        return self.titles[self.index(item)]

    def image_url(self, item: int | str) -> str | None:
        """The item's image URL (``http``/``https``), ``None`` where the dump had none."""
        return self.image_urls[self.index(item)]

    def label(self, item: int | str, width: int | None = None) -> str:
        """The title if known, else the item id; cut to ``width`` with ``…`` when given.

        A cut title is only unambiguous beside its id: tables show both.
        """
        i = self.index(item)
        return cut(self.titles[i] or self.items[i], width)

    def short_labels(self, items: Sequence[int | str], width: int = 40) -> list[str]:
        """Labels of ``items`` (e.g. one recommended list) in at most ``width`` characters,
        shortened by :func:`short_names` so that none reads as another of them; items with
        the very same title keep the same label (their ids tell them apart)."""
        return short_names([self.label(i) for i in items], width)
