"""Attribute values of items: fitted level binners and vocabularies (scikit-learn style).

Each encoder has ``fit``, ``transform`` and ``to_dict``/``from_dict``; fitted state ends in ``_``
and is saved to meta.json so new items can be mapped the same way.
"""
from __future__ import annotations

import logging
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from addrl_graph.data.catalog import OTHER, UNKNOWN
from addrl_graph.data.schema import RESERVED_ATTRIBUTE_NAMES, is_reserved_attribute
from data_builders.errors import DataBuildError
from data_builders.readers.records import ItemMeta

logger = logging.getLogger(__name__)

BUILTIN_SOURCES = ('price', 'popularity', 'brand', 'category')
EXTRA_PREFIX = 'extra:'
POPULARITY_SOURCES = ('interactions', 'sales_rank')


class LevelBinner:
    """Equal-frequency levels of a number; missing numbers map to ``unknown``.

    Items are ranked by value (ties share their lowest rank) and level ``floor(rank * L / n)``
    is taken, so equal values always share a level and levels are as even as ties allow.

    Args:
        num_levels: number of levels ``L`` (paper: 5).
        label: how a level is named, formatted with ``lo`` and ``hi`` (its value range).
        keep_unknown: always add the ``unknown`` value, even when every fitted value is known
            (so new items without the number can be mapped); otherwise it exists only when the
            fitted data had missing values.
    """

    def __init__(self, num_levels: int = 5, label: str = '{lo:g}-{hi:g}',
                 keep_unknown: bool = True):
        if num_levels < 1:
            raise DataBuildError(f'number of levels must be >= 1 (got {num_levels})')
        self.num_levels = num_levels
        self.label = label
        self.keep_unknown = keep_unknown

    def fit(self, values: np.ndarray) -> LevelBinner:
        """``values [I]`` float, NaN for missing."""
        values = np.asarray(values, dtype=np.float64)
        known = np.sort(values[np.isfinite(values)])
        if len(known):
            first_rank = np.searchsorted(known, known, side='left')
            level = first_rank * self.num_levels // len(known)
            used = np.unique(level)
            self.lower_edges_ = [float(known[level == lv].min()) for lv in used]
            self.upper_edges_ = [float(known[level == lv].max()) for lv in used]
        else:
            self.lower_edges_, self.upper_edges_ = [], []
        self.has_unknown_ = self.keep_unknown or len(known) < len(values)
        self.values_ = self._names()
        return self

    def _names(self) -> list[str]:
        levels = [self.label.format(lo=lo, hi=hi)
                  for lo, hi in zip(self.lower_edges_, self.upper_edges_)]
        return levels + [UNKNOWN] if self.has_unknown_ else levels

    def transform(self, values: np.ndarray) -> np.ndarray:
        """Level index of each value ``[I]``; values above the last edge take the last level."""
        values = np.asarray(values, dtype=np.float64)
        codes = np.searchsorted(np.asarray(self.upper_edges_[:-1]), values, side='left')
        missing = ~np.isfinite(values)
        if missing.any() and not self.has_unknown_:
            raise DataBuildError('missing value but the levels were fitted without an '
                                 '"unknown" value')
        codes[missing] = len(self.values_) - 1
        return codes.astype(np.int64)

    def to_dict(self) -> dict[str, Any]:
        return {'type': 'levels', 'num_levels': self.num_levels, 'label': self.label,
                'lower_edges': self.lower_edges_, 'upper_edges': self.upper_edges_,
                'has_unknown': self.has_unknown_}

    @classmethod
    def from_dict(cls, state: dict[str, Any]) -> LevelBinner:
        binner = cls(state['num_levels'], state['label'], state['has_unknown'])
        binner.lower_edges_, binner.upper_edges_ = state['lower_edges'], state['upper_edges']
        binner.has_unknown_ = state['has_unknown']
        binner.values_ = binner._names()
        return binner


class Vocabulary:
    """String values seen at least ``min_count`` times; rarer ones map to ``other`` and
    missing ones to ``unknown`` (each slot exists only if the fitted data needed it).

    Args:
        min_count: items a value needs to get its own class.
        max_size: keep at most this many most frequent values (``None``: no cap).
    """

    def __init__(self, min_count: int = 1, max_size: int | None = None):
        self.min_count = min_count
        self.max_size = max_size

    def fit(self, values: Sequence[str | None]) -> Vocabulary:
        counts = Counter(v for v in values if v)
        ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
        kept = [v for v, c in ranked if c >= self.min_count][:self.max_size]
        self.values_ = kept
        if len(kept) < len(counts):
            self.values_ = self.values_ + [OTHER]
        if any(not v for v in values):
            self.values_ = self.values_ + [UNKNOWN]
        self.index_ = {v: i for i, v in enumerate(self.values_)}
        return self

    def transform(self, values: Sequence[str | None]) -> np.ndarray:
        other = self.index_.get(OTHER, self.index_.get(UNKNOWN))
        unknown = self.index_.get(UNKNOWN, other)
        codes = []
        for v in values:
            code = self.index_.get(v, other) if v else unknown
            if code is None:
                raise DataBuildError(f'value {v!r} is not in the fitted vocabulary and the '
                                     'vocabulary has no "other"/"unknown" slot')
            codes.append(code)
        return np.asarray(codes, dtype=np.int64)

    def to_dict(self) -> dict[str, Any]:
        return {'type': 'vocabulary', 'min_count': self.min_count, 'max_size': self.max_size}

    @classmethod
    def from_dict(cls, state: dict[str, Any], values: list[str]) -> Vocabulary:
        vocab = cls(state['min_count'], state['max_size'])
        vocab.values_ = list(values)
        vocab.index_ = {v: i for i, v in enumerate(values)}
        return vocab


@dataclass
class AttributeConfig:
    """Which attributes to derive and how (the build command's attribute flags).

    Args:
        names: attributes in column order: ``price``, ``popularity``, ``brand``, ``category``
            or ``extra:<key>`` for any metadata field collected into ``ItemMeta.extra`` (e.g. a
            ``details`` key such as ``extra:Material``); comma-separated on the command line.
            Their node-type names (:func:`attribute_name`) must differ and may not be
            ``user``, ``item`` or ``others``.
        price_levels: equal-frequency price levels (plus ``unknown``).
        popularity_levels: equal-frequency popularity levels.
        popularity_source: ``interactions`` (training interactions per item) or
            ``sales_rank``.
        brand_min_count: items a brand needs to be a value of its own (rarer: ``other``).
        category_depth: depth of the category value in the item's most specific path (0: the
            root; deeper than the path: its leaf), or ``None`` (``leaf`` on the command line)
            for its leaf.
        category_min_count: items a category needs to be a value of its own.
        extra_min_count: items an ``extra:<key>`` value needs to be a value of its own.
    """
    names: list[str] = field(default_factory=lambda: list(BUILTIN_SOURCES))
    price_levels: int = 5
    popularity_levels: int = 5
    popularity_source: str = 'interactions'
    brand_min_count: int = 2
    category_depth: int | None = None
    category_min_count: int = 1
    extra_min_count: int = 2

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Check the values alone (run when the config is made, before any dump is read, and
        again when attributes are derived: fields may be set in between)."""
        self._check_names()
        if self.popularity_source not in POPULARITY_SOURCES:
            raise DataBuildError("--popularity-source must be 'interactions' or 'sales_rank' "
                                 f'(got {self.popularity_source!r})')
        for name in ('price_levels', 'popularity_levels', 'brand_min_count',
                     'category_min_count', 'extra_min_count'):
            if getattr(self, name) < 1:
                raise DataBuildError(f'--{name.replace("_", "-")} must be >= 1 '
                                     f'(got {getattr(self, name)})')
        if self.category_depth is not None and self.category_depth < 0:
            raise DataBuildError("--category-depth must be >= 0 (0: the root), or 'leaf' "
                                 f'(got {self.category_depth})')

    def _check_names(self) -> None:
        for name in self.names:
            if name not in BUILTIN_SOURCES and not (name.startswith(EXTRA_PREFIX)
                                                    and len(name) > len(EXTRA_PREFIX)):
                raise DataBuildError(f'--attributes: unknown attribute {name!r}; use one of '
                                     f'{BUILTIN_SOURCES} or extra:<metadata key>')
        seen: dict[str, str] = {}
        for source in self.names:
            name = attribute_name(source)
            if is_reserved_attribute(name):
                raise DataBuildError(
                    f'--attributes: {source!r} would be named {name!r}, which is reserved '
                    f'({", ".join(sorted(RESERVED_ATTRIBUTE_NAMES))}, others_<n>: node types '
                    f"of the graph and the model's free chunks); leave it out "
                    f'(got {self.names})')
            if name in seen:
                raise DataBuildError(f'--attributes: {seen[name]!r} and {source!r} are both '
                                     f'named {name!r}; list one of them (got {self.names})')
            seen[name] = source


def category_of(meta: ItemMeta | None, depth: int | None = None) -> str | None:
    """Category value of an item: the leaf (or the node at ``depth``) of its longest path."""
    if meta is None or not meta.categories:
        return None
    path = [c for c in max(meta.categories, key=len) if c]
    if not path:
        return None
    return path[-1] if depth is None else path[min(depth, len(path) - 1)]


def attribute_name(source: str) -> str:
    """Node-type name of an attribute (``extra:Material`` → ``material``)."""
    if source.startswith(EXTRA_PREFIX):
        key = source[len(EXTRA_PREFIX):].strip().lower()
        return ''.join(ch if ch.isalnum() else '_' for ch in key).strip('_') or 'extra'
    return source


def _popularity_numbers(metas: list[ItemMeta | None], train_counts: np.ndarray,
                        source: str) -> np.ndarray:
    if source == 'interactions':
        return train_counts.astype(np.float64)
    # A smaller sales rank is more popular: negate so higher levels stay more popular.
    return np.array([-m.sales_rank if m is not None and m.sales_rank else math.nan
                     for m in metas], dtype=np.float64)


def fit_attribute(source: str, metas: list[ItemMeta | None], train_counts: np.ndarray,
                  config: AttributeConfig) -> tuple[np.ndarray, list[str], dict[str, Any]]:
    """Fit one attribute over the kept items and return ``(codes [I], value names, state)``."""
    if source == 'price':
        numbers = np.array([m.price if m is not None and m.price else math.nan for m in metas])
        encoder = LevelBinner(config.price_levels, '${lo:.2f}-${hi:.2f}').fit(numbers)
    elif source == 'popularity':
        numbers = _popularity_numbers(metas, train_counts, config.popularity_source)
        label = ('{lo:g}-{hi:g} train interactions' if config.popularity_source == 'interactions'
                 else 'sales rank {hi:g} to {lo:g}')
        encoder = LevelBinner(config.popularity_levels, label,
                              keep_unknown=config.popularity_source == 'sales_rank').fit(numbers)
    else:
        if source == 'brand':
            strings, min_count = [m.brand if m else None for m in metas], config.brand_min_count
        elif source == 'category':
            strings = [category_of(m, config.category_depth) for m in metas]
            min_count = config.category_min_count
        else:
            key = source[len(EXTRA_PREFIX):]
            strings = [str(m.extra[key]) if m is not None and m.extra.get(key) not in (None, '')
                       else None for m in metas]
            min_count = config.extra_min_count
        encoder = Vocabulary(min_count).fit(strings)
        numbers = strings
    codes = encoder.transform(numbers)
    state = dict(encoder.to_dict(), source=source)
    if source == 'popularity':
        state['popularity_source'] = config.popularity_source
    return codes, list(encoder.values_), state


def derive_attributes(metas: list[ItemMeta | None], train_counts: np.ndarray,
                      config: AttributeConfig) -> tuple[np.ndarray, list[dict[str, Any]], list[str]]:
    """Derive every configured attribute for the kept items.

    Args:
        metas: metadata of each item in item-index order (``None`` when an item has none).
        train_counts: training interactions per item ``[I]`` (for popularity).
        config: attribute choices.

    Returns:
        ``attr [I, A]`` codes, one meta.json entry per kept attribute (name, source, value
        names, per-value item counts, fitted state), and the names dropped because they had
        fewer than two known values in the data (``unknown`` does not count).
    """
    config.validate()
    columns, entries, dropped = [], [], []
    for source in config.names:
        name = attribute_name(source)
        codes, values, state = fit_attribute(source, metas, train_counts, config)
        counts = np.bincount(codes, minlength=len(values))
        known = [v for v, c in zip(values, counts) if c > 0 and v != UNKNOWN]
        if len(known) < 2:
            logger.warning('attribute %r has fewer than two known values in the data (%s): '
                           'dropped', name, ', '.join(known) or 'none known')
            dropped.append(name)
            continue
        columns.append(codes)
        entries.append({'name': name, 'values': values, 'item_counts': counts.tolist(),
                        'fit': state})
    if not columns:
        raise DataBuildError('no attribute has two or more values in the data: the model '
                             f'needs at least one (got {config.names})')
    return np.stack(columns, axis=1), entries, dropped
