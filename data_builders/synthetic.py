"""Synthetic Amazon-2014 dumps with planted, known user preferences.

The library ships no real data, so its examples and tests run on dumps written here. They have
the shape of the real 2014 files (review JSON lines, metadata as one Python dict literal per
line, one small image per item) and a signal that is known exactly:

* **Items** get a category (leaf of a ``Sports & Outdoors`` path), a brand nested under one or
  two categories, a price drawn from five non-overlapping bands with equal item counts (so the
  builder's equal-frequency 5-level binning recovers the bands; price correlates mildly with
  brand) and a target number of interactions from a Zipf-like curve floored at
  ``min_interactions``.
* **Users** get one planted preference: an attribute ``a`` (uniform over price, popularity,
  brand, category) and a value ``v`` of it, chosen with probability proportional to the
  value's interaction capacity. ``round(preference_strength * degree)`` of the user's
  interactions are drawn from items with value ``v`` (popularity: items of the top
  popularity band); the rest are a random matching of the remaining slots, i.e. follow the
  global Zipf-like popularity.
* **Degrees** are exact: every user and item first receives its target degree; slots are then
  matched (planted ones inside their value group, the rest freely) and repeated pairs are
  swapped away, so the distinct (user, item) pairs match the preset's totals exactly and a
  5-core filter keeps everything. ~0.5% extra review lines repeat a pair (later timestamp) to
  exercise de-duplication; they are not counted in the totals.
* **Text and images carry the attributes**: titles, descriptions and reviews mention brand,
  category nouns, price words by band ("cheap" … "luxury") and popularity words ("hidden
  gem" … "everyone has one") among noise sentences; each image's background colour is the
  category's, its shape and shape colour come from a hash of the brand, and its size and fill
  pattern from the price band.

``ground_truth.json`` records every user's planted ``(attribute, value)`` and every item's
attribute values, in the raw form a builder sees (brand and category strings, price band and
band edges, popularity band by equal-frequency levels of interaction counts).

This module decides values and interactions and writes the files; how an item looks (words,
titles, images) lives in :mod:`data_builders.synthetic_render`.
"""
from __future__ import annotations

import gzip
import json
import logging
import os
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from data_builders.errors import DataBuildError
from data_builders.synthetic_render import (CATEGORIES, ItemLook, brand_names, image_specs,
                                            item_texts, render_images, review_texts,
                                            reviewer_names)

logger = logging.getLogger(__name__)

ATTRIBUTES = ('price', 'popularity', 'brand', 'category')
#: Order in which planted slots are matched: scarcest groups first.
PLANT_ORDER = ('popularity', 'brand', 'price', 'category')
NUM_BANDS = 5
ROOT = 'Sports & Outdoors'
#: Nominal price range of each band; prices are ``k + 0.99`` with ``lo <= k < hi``.
PRICE_RANGES = ((2, 10), (10, 25), (25, 50), (50, 100), (100, 350))
FIRST_DAY = 1041379200      # 2003-01-01
LAST_DAY = 1406073600       # 2014-07-23, end of the 2014 crawl
DAY = 86400

_ALNUM = np.frombuffer(b'0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ', dtype=np.uint8)
_URL_CHARS = np.frombuffer(b'0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz',
                           dtype=np.uint8)


@dataclass(frozen=True)
class SyntheticConfig:
    """Shape of a synthetic dump; the totals are met exactly (distinct user–item pairs).

    Args:
        num_users / num_items / num_interactions: exact totals after de-duplication.
        num_brands / num_categories: distinct brand and leaf-category strings in the metadata
            (categories at most ``len(CATEGORIES)`` = 24).
        min_interactions: least interactions of every user and every item (5-core safe).
        image_size: side of the square PNG per item, in pixels.
        preference_strength: share of a user's interactions planted on its preferred value.
        seed: default seed of :func:`generate`.
        item_zipf / user_zipf: exponent of the rank curve of item / user degrees (floored at
            ``min_interactions``; larger is more skewed).
        max_user_degree: cap on a user's interactions.
        brand_zipf: exponent of the rank curve of brand sizes (each brand has >= 3 items).
        category_zipf: exponent of the category weights.
        price_brand_correlation: 0 = price independent of brand, 1 = set by brand alone.
        missing_meta / missing_brand / missing_price / missing_image: share of items with no
            metadata line / no brand / no price / no image (and no ``imUrl``).
        duplicate_share: extra review lines repeating a pair, as a share of interactions.
        image_workers: processes drawing images (None: up to 4, by CPU count).
    """
    num_users: int
    num_items: int
    num_interactions: int
    num_brands: int
    num_categories: int
    min_interactions: int = 5
    image_size: int = 32
    preference_strength: float = 0.7
    seed: int = 0
    item_zipf: float = 0.4
    user_zipf: float = 0.5
    max_user_degree: int = 250
    brand_zipf: float = 0.6
    category_zipf: float = 0.5
    price_brand_correlation: float = 0.5
    missing_meta: float = 0.01
    missing_brand: float = 0.10
    missing_price: float = 0.10
    missing_image: float = 0.05
    duplicate_share: float = 0.005
    image_workers: int | None = None

    def validate(self) -> None:
        """Raise :class:`DataBuildError` naming the first field that cannot work."""
        k = self.min_interactions
        if k < 1:
            raise DataBuildError(f'min_interactions must be >= 1 (got {k})')
        if self.num_interactions < k * max(self.num_users, self.num_items):
            raise DataBuildError(
                f'num_interactions must be >= min_interactions * max(users, items) = '
                f'{k * max(self.num_users, self.num_items)} (got {self.num_interactions})')
        cap = min(self.max_user_degree, self.num_items // 2)
        if self.num_interactions > self.num_users * cap:
            raise DataBuildError(f'num_interactions exceeds num_users * min(max_user_degree, '
                                 f'num_items // 2) = {self.num_users * cap} '
                                 f'(got {self.num_interactions})')
        if not 1 <= self.num_categories <= len(CATEGORIES):
            raise DataBuildError(f'num_categories must be in 1..{len(CATEGORIES)} '
                                 f'(got {self.num_categories})')
        if not self.num_categories <= self.num_brands <= self._branded_items() // 3:
            raise DataBuildError(
                f'num_brands must be in num_categories..{self._branded_items() // 3} '
                f'(each brand needs >= 3 items; got {self.num_brands})')
        if not 0.0 <= self.preference_strength <= 1.0:
            raise DataBuildError(f'preference_strength must be in [0, 1] '
                                 f'(got {self.preference_strength})')
        if self.image_size < 8:
            raise DataBuildError(f'image_size must be >= 8 (got {self.image_size})')
        for name in ('missing_meta', 'missing_brand', 'missing_price', 'missing_image',
                     'duplicate_share', 'price_brand_correlation'):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise DataBuildError(f'{name} must be in [0, 1) (got {getattr(self, name)})')

    def _branded_items(self) -> int:
        meta = self.num_items - round(self.missing_meta * self.num_items)
        return meta - round(self.missing_brand * meta)


PRESETS: dict[str, SyntheticConfig] = {
    'small': SyntheticConfig(num_users=600, num_items=500, num_interactions=6000,
                             num_brands=40, num_categories=6, item_zipf=0.5,
                             max_user_degree=40),
    # The paper's Sports & Outdoors (Table 1).
    'sports': SyntheticConfig(num_users=21_400, num_items=36_224, num_interactions=209_944,
                              num_brands=2_081, num_categories=18),
}


# ------------------------------------------------------------------------------ structure

def rank_curve_counts(n: int, total: int, minimum: int, maximum: int,
                      exponent: float) -> np.ndarray:
    """Integers in ``[minimum, maximum]`` summing to ``total`` that fall like
    ``rank ** -exponent`` (largest first), i.e. ``clip(round(c * rank ** -exponent))`` for
    the ``c`` that meets the total, with the rounding residue added to the top ranks."""
    if not n * minimum <= total <= n * maximum:
        raise DataBuildError(f'cannot split {total} into {n} counts in [{minimum}, {maximum}]')
    weight = np.arange(1, n + 1, dtype=np.float64) ** -exponent

    def counts(c: float) -> np.ndarray:
        return np.clip(np.floor(c * weight + 0.5), minimum, maximum).astype(np.int64)

    lo, hi = 0.0, (maximum + 1) / weight[-1]
    for _ in range(200):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if counts(mid).sum() <= total else (lo, mid)
    out = counts(lo)
    room = np.flatnonzero(out < maximum)[:total - out.sum()]
    out[room] += 1
    return out


def equal_frequency_levels(values: np.ndarray, num_levels: int = NUM_BANDS) -> np.ndarray:
    """Level ``floor(first_rank * L / n)`` of each value, ties sharing their lowest rank —
    the rule of the builder's ``LevelBinner``."""
    ordered = np.sort(values)
    return np.searchsorted(ordered, values, side='left') * num_levels // len(values)


def _random_ids(rng: np.random.Generator, n: int, prefix: str, length: int) -> np.ndarray:
    """``n`` distinct ids: ``prefix`` + uppercase alphanumerics, ``length`` chars in all."""
    tail = length - len(prefix)
    ids: list[str] = []
    seen: set[str] = set()
    while len(ids) < n:
        codes = _ALNUM[rng.integers(0, len(_ALNUM), size=(n - len(ids), tail))]
        for raw in codes.view(f'S{tail}').ravel():
            s = prefix + raw.decode()
            if s not in seen:
                seen.add(s)
                ids.append(s)
    return np.array(ids)


@dataclass
class _Items:
    has_meta: np.ndarray      # [I] bool
    brand: np.ndarray         # [I] brand index or -1
    category: np.ndarray      # [I] category index (latent for items without metadata)
    price: np.ndarray         # [I] float, NaN where missing
    price_band: np.ndarray    # [I] band of the price, -1 where missing
    latent_band: np.ndarray   # [I] price band used by text and image (price_band or drawn)
    degree: np.ndarray        # [I] exact number of distinct users
    popularity_band: np.ndarray  # [I]
    has_image: np.ndarray     # [I] bool


def _make_items(cfg: SyntheticConfig, rng: np.random.Generator) -> _Items:
    n, b, c = cfg.num_items, cfg.num_brands, cfg.num_categories
    roles = rng.permutation(n)
    n_nometa = round(cfg.missing_meta * n)
    n_nobrand = round(cfg.missing_brand * (n - n_nometa))
    has_meta = np.ones(n, dtype=bool)
    has_meta[roles[:n_nometa]] = False
    branded = roles[n_nometa + n_nobrand:]

    sizes = rank_curve_counts(b, len(branded), 3, len(branded), cfg.brand_zipf)
    brand = np.full(n, -1, dtype=np.int64)
    brand[branded] = rng.permutation(np.repeat(np.arange(b), sizes))

    cat_weight = np.arange(1, c + 1, dtype=np.float64) ** -cfg.category_zipf
    cat_weight /= cat_weight.sum()
    primary = rng.choice(c, size=b, p=cat_weight)
    secondary = (primary + 1 + rng.integers(0, max(c - 1, 1), size=b)) % c
    share = np.where(rng.random(b) < 0.5, 0.0, rng.uniform(0.1, 0.35, size=b))
    covering = rng.permutation(b)[:c]              # every category has a brand of its own
    primary[covering], share[covering] = np.arange(c), 0.0
    category = rng.choice(c, size=n, p=cat_weight)
    in_second = rng.random(len(branded)) < share[brand[branded]]
    category[branded] = np.where(in_second, secondary[brand[branded]],
                                 primary[brand[branded]])

    # Price: equal-count bands over the priced items, ranked by a brand-correlated score.
    meta_items = np.flatnonzero(has_meta)
    priced = np.sort(rng.permutation(meta_items)[round(cfg.missing_price * len(meta_items)):])
    rho = cfg.price_brand_correlation
    brand_level = rng.random(b)
    score = rho * np.where(brand >= 0, brand_level[np.maximum(brand, 0)], rng.random(n))
    score += (1 - rho) * rng.random(n)
    price_band = np.full(n, -1, dtype=np.int64)
    price_band[priced[np.argsort(score[priced], kind='stable')]] = (
        np.arange(len(priced)) * NUM_BANDS // len(priced))
    latent_band = np.where(price_band >= 0, price_band, rng.integers(0, NUM_BANDS, size=n))
    lo = np.array([r[0] for r in PRICE_RANGES], dtype=np.float64)[latent_band]
    hi = np.array([r[1] for r in PRICE_RANGES], dtype=np.float64)[latent_band]
    dollars = np.minimum(np.floor(lo * (hi / lo) ** rng.random(n)), hi - 1)
    price = np.where(price_band >= 0, np.round(dollars + 0.99, 2), np.nan)

    degree = rng.permutation(rank_curve_counts(n, cfg.num_interactions, cfg.min_interactions,
                                               cfg.num_users, cfg.item_zipf))
    has_image = np.ones(n, dtype=bool)
    has_image[rng.permutation(n)[:round(cfg.missing_image * n)]] = False
    return _Items(has_meta, brand, category, price, price_band, latent_band, degree,
                  equal_frequency_levels(degree), has_image)


# ------------------------------------------------------------------------------ planting

def _keys_in(sorted_keys: np.ndarray, keys: np.ndarray) -> np.ndarray:
    pos = np.minimum(np.searchsorted(sorted_keys, keys), len(sorted_keys) - 1)
    return sorted_keys[pos] == keys


def _resolve_duplicates(users: np.ndarray, items: np.ndarray, pool: np.ndarray,
                        movable: np.ndarray, num_items: int, rng: np.random.Generator,
                        max_rounds: int = 200) -> np.ndarray:
    """Swap items between pairs of the same pool until no (user, item) pair repeats.

    Swaps keep every user's and item's count and every pair's pool; only ``movable`` pairs
    change. ``items`` is edited in place. Returns the positions still repeated after
    ``max_rounds`` (empty when all were resolved).
    """
    mov = np.flatnonzero(movable)
    mov = mov[np.argsort(pool[mov], kind='stable')]
    num_pools = int(pool.max()) + 1 if len(pool) else 0
    start = np.searchsorted(pool[mov], np.arange(num_pools))
    count = np.bincount(pool[mov], minlength=num_pools)
    for _ in range(max_rounds):
        keys = users * num_items + items
        order = np.lexsort((movable, keys))      # per key: unmovable first, then movable
        sk = keys[order]
        repeat = np.zeros(len(sk), dtype=bool)
        repeat[1:] = sk[1:] == sk[:-1]
        todo = order[repeat]
        if not len(todo):
            return todo
        if not movable[todo].all():
            raise DataBuildError('internal error: two fixed pairs repeat a (user, item) pair')
        g = pool[todo]
        ok = count[g] > 0
        todo, g = todo[ok], g[ok]
        partner = mov[start[g] + (rng.random(len(todo)) * count[g]).astype(np.int64)]
        u1, i1, u2, i2 = users[todo], items[todo], users[partner], items[partner]
        valid = ((u1 != u2) & (i1 != i2) & ~_keys_in(sk, u1 * num_items + i2)
                 & ~_keys_in(sk, u2 * num_items + i1) & ~np.isin(partner, todo))
        todo, partner = todo[valid], partner[valid]
        partner, first = np.unique(partner, return_index=True)
        todo = todo[first]
        items[todo], items[partner] = items[partner], items[todo].copy()
    keys = users * num_items + items
    order = np.lexsort((movable, keys))
    sk = keys[order]
    return order[1:][sk[1:] == sk[:-1]]


def _match_planted(members: np.ndarray, need: np.ndarray, value: np.ndarray,
                   item_group: np.ndarray, room: np.ndarray, num_items: int,
                   rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Give each member ``need`` distinct items of its group ``value``, drawn ∝ the items'
    remaining ``room`` (edited in place). Returns planted ``(users, items)``; a member may get
    fewer when its group runs out."""
    users = np.repeat(members, need)
    ug = np.repeat(value, need)
    order = np.lexsort((rng.random(len(users)), ug))
    users, ug = users[order], ug[order]
    open_items = np.flatnonzero((item_group >= 0) & (room > 0))
    stubs = np.repeat(open_items, room[open_items])
    sg = item_group[stubs]
    order = np.lexsort((rng.random(len(stubs)), sg))
    stubs, sg = stubs[order], sg[order]
    num_groups = int(max(item_group.max(), value.max() if len(value) else 0)) + 1
    ustart = np.searchsorted(ug, np.arange(num_groups))
    istart = np.searchsorted(sg, np.arange(num_groups))
    supply = np.bincount(sg, minlength=num_groups)
    pos = np.arange(len(users)) - ustart[ug]
    ok = pos < supply[ug]
    users, ug = users[ok], ug[ok]
    items = stubs[istart[ug] + pos[ok]]
    stuck = _resolve_duplicates(users, items, ug, np.ones(len(users), dtype=bool), num_items,
                                rng)
    keep = np.ones(len(users), dtype=bool)
    keep[stuck] = False
    room -= np.bincount(items[keep], minlength=len(room))
    # Rare leftovers (a user holding most of a small group): move them to another item of the
    # group that still has room, else drop them (the user then gets one more free slot).
    for pos in stuck:
        u, g = users[pos], ug[pos]
        held = items[keep & (users == u)]
        options = np.flatnonzero((item_group == g) & (room > 0))
        options = options[~np.isin(options, held)]
        if len(options):
            items[pos] = options[rng.integers(len(options))]
            room[items[pos]] -= 1
            keep[pos] = True
    return users[keep], items[keep]


def _groups(items: _Items) -> dict[str, np.ndarray]:
    """Value group of every item per attribute, -1 where the value is not observable."""
    top = items.popularity_band.max()
    return {'price': items.price_band,
            'popularity': np.where(items.popularity_band == top, 0, -1),
            'brand': items.brand,
            'category': np.where(items.has_meta, items.category, -1)}


def _choose_values(need: np.ndarray, group: np.ndarray, degree: np.ndarray,
                   rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Pick each user's value ∝ the value's capacity among values with at least
    ``1.5 * need`` items; the need is cut where no value is that large."""
    valid = group >= 0
    size = np.bincount(group[valid])
    capacity = np.bincount(group[valid], weights=degree[valid])
    order = np.argsort(size, kind='stable')
    cum = np.concatenate([[0.0], np.cumsum(capacity[order])])
    first = np.searchsorted(size[order], np.ceil(1.5 * need), side='left')
    short = first >= len(order)
    first[short] = len(order) - 1
    need = np.where(short, np.minimum(need, size[order[-1]] * 2 // 3), need)
    target = cum[first] + rng.random(len(need)) * (cum[-1] - cum[first])
    pick = np.clip(np.searchsorted(cum, target, side='right') - 1, first, len(order) - 1)
    return order[pick], need


@dataclass
class _Interactions:
    users: np.ndarray         # [E] user index
    items: np.ndarray         # [E] item index
    planted: np.ndarray       # [E] bool: drawn from the user's preferred value
    attribute: np.ndarray     # [U] index into ATTRIBUTES
    value: np.ndarray         # [U] group index of the value
    user_degree: np.ndarray   # [U]


def _plant(cfg: SyntheticConfig, items: _Items,
           rng: np.random.Generator) -> _Interactions:
    nu, ni = cfg.num_users, cfg.num_items
    cap = min(cfg.max_user_degree, ni // 2)
    user_degree = rng.permutation(rank_curve_counts(nu, cfg.num_interactions,
                                                    cfg.min_interactions, cap, cfg.user_zipf))
    attribute = rng.integers(0, len(ATTRIBUTES), size=nu)
    need = np.floor(cfg.preference_strength * user_degree + 0.5).astype(np.int64)
    value = np.zeros(nu, dtype=np.int64)
    groups = _groups(items)
    room = items.degree.copy()
    planted_u, planted_i = [], []
    for name in PLANT_ORDER:
        members = np.flatnonzero(attribute == ATTRIBUTES.index(name))
        value[members], need[members] = _choose_values(need[members], groups[name],
                                                       items.degree, rng)
        u, i = _match_planted(members, need[members], value[members], groups[name], room, ni,
                              rng)
        planted_u.append(u)
        planted_i.append(i)
    pu, pi = np.concatenate(planted_u), np.concatenate(planted_i)
    free = user_degree - np.bincount(pu, minlength=nu)
    fu = rng.permutation(np.repeat(np.arange(nu), free))
    fi = rng.permutation(np.repeat(np.arange(ni), room))
    users, items_ = np.concatenate([pu, fu]), np.concatenate([pi, fi])
    planted = np.arange(len(users)) < len(pu)
    stuck = _resolve_duplicates(users, items_, np.zeros(len(users), dtype=np.int64), ~planted,
                                ni, rng, max_rounds=1000)
    if len(stuck):
        raise DataBuildError(f'could not remove {len(stuck)} repeated pairs; lower '
                             'max_user_degree or item_zipf')
    if not (np.array_equal(np.bincount(users, minlength=nu), user_degree)
            and np.array_equal(np.bincount(items_, minlength=ni), items.degree)):
        raise DataBuildError('internal error: degrees changed while matching')
    return _Interactions(users, items_, planted, attribute, value, user_degree)


# ------------------------------------------------------------------------------ writing

def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f'.{path.name}.tmp{os.getpid()}')
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _write_gzip_lines(path: Path, lines: list[str]) -> None:
    """Deterministic gzip (no name, mtime 0) of newline-terminated lines, written atomically."""
    data = ('\n'.join(lines) + '\n').encode('utf-8')
    _write_atomic(path, gzip.compress(data, compresslevel=6, mtime=0))


def _review_lines(cfg: SyntheticConfig, look: ItemLook, inter: _Interactions,
                  nouns: list[str], user_ids: np.ndarray, asins: np.ndarray,
                  rng: np.random.Generator) -> tuple[list[str], int]:
    """Review JSON lines sorted by asin then time, plus repeats; returns them and the number
    of repeats."""
    nu = cfg.num_users
    e = len(inter.users)
    # Per-user time order: random sequence, strictly increasing days inside 2003..2014-07.
    order = np.lexsort((rng.random(e), inter.users))
    users, its, planted = inter.users[order], inter.items[order], inter.planted[order]
    span_days = (LAST_DAY - FIRST_DAY) // DAY
    deg = inter.user_degree
    mean_gap = np.clip(0.6 * span_days / deg, 1.0, 90.0)
    gaps = 1 + np.floor(rng.exponential(mean_gap[users] - 0.999)).astype(np.int64)
    first = np.concatenate([[0], np.cumsum(deg)[:-1]])
    gaps[first] = 0
    cum = np.cumsum(gaps)
    offset = cum - cum[first][users]
    span = offset[np.cumsum(deg) - 1]
    too_long = span >= span_days
    if too_long.any():
        pos = np.arange(e) - first[users]
        offset = np.where(too_long[users], pos, offset)
        span = np.where(too_long, deg - 1, span)
    start = np.floor(rng.random(nu) * (span_days - span)).astype(np.int64)
    day = start[users] + offset
    ts = FIRST_DAY + day * DAY
    probs = np.where(planted[:, None], [0.02, 0.03, 0.08, 0.25, 0.62],
                     [0.04, 0.05, 0.13, 0.28, 0.50])
    rating = 1 + (rng.random(e)[:, None] > np.cumsum(probs, axis=1)).sum(axis=1)
    rating = np.minimum(rating, 5)

    n_dup = round(cfg.duplicate_share * e)
    dup = np.sort(rng.choice(e, size=n_dup, replace=False))
    users = np.concatenate([users, users[dup]])
    its = np.concatenate([its, its[dup]])
    ts = np.concatenate([ts, ts[dup] + DAY * rng.integers(1, 60, size=n_dup)])
    rating = np.concatenate([rating, rating[dup]])
    source = np.concatenate([np.arange(e), dup])      # text of a repeat = its original's

    texts, summaries = review_texts(look, nouns, its[:e], rating[:e], rng)
    names = reviewer_names(rng, nu)
    helpful_total = np.minimum(rng.geometric(0.6, size=len(users)) - 1, 50)
    helpful_yes = np.floor(helpful_total * rng.random(len(users))).astype(np.int64)
    dates = np.datetime_as_string(ts.astype('datetime64[s]'), unit='D')

    asin_rank = np.empty(len(asins), dtype=np.int64)
    asin_rank[np.argsort(asins)] = np.arange(len(asins))
    lines = []
    for j in np.lexsort((ts, asin_rank[its])):
        u, i, src = users[j], its[j], source[j]
        yyyy, mm, dd = dates[j].split('-')
        lines.append(json.dumps({
            'reviewerID': user_ids[u], 'asin': asins[i], 'reviewerName': names[u],
            'helpful': [int(helpful_yes[j]), int(helpful_total[j])], 'reviewText': texts[src],
            'overall': float(rating[j]), 'summary': summaries[src],
            'unixReviewTime': int(ts[j]), 'reviewTime': f'{mm} {dd}, {yyyy}'}))
    return lines, n_dup


def _meta_lines(cfg: SyntheticConfig, items: _Items, look: ItemLook, titles: list[str],
                descriptions: list[str], asins: np.ndarray,
                rng: np.random.Generator) -> list[str]:
    n = cfg.num_items
    # Sales rank follows popularity with noise; ~5% of items have none.
    noisy = np.log(items.degree) + rng.normal(0, 0.3, size=n)
    place = np.empty(n, dtype=np.int64)
    place[np.argsort(-noisy, kind='stable')] = np.arange(n)
    sales_rank = 1 + np.floor((place / n) ** 1.5 * 1_500_000).astype(np.int64)
    sales_rank += rng.integers(0, 500, size=n)
    no_rank = rng.random(n) < 0.05
    # Related items: random items of the same category.
    by_cat = np.argsort(items.category, kind='stable')
    cat_start = np.searchsorted(items.category[by_cat], np.arange(cfg.num_categories))
    cat_count = np.bincount(items.category, minlength=cfg.num_categories)
    related_n = rng.integers(0, 5, size=(n, 3))
    related_pick = by_cat[cat_start[items.category][:, None]
                          + (rng.random((n, 12)) * cat_count[items.category][:, None])
                          .astype(np.int64)]
    url_ids = _URL_CHARS[rng.integers(0, len(_URL_CHARS), size=(n, 8))].view('S8').ravel()
    url_prefix = rng.integers(3, 9, size=n)
    lines = []
    for j in np.argsort(asins):
        if not items.has_meta[j]:
            continue
        leaf, parent, _, _ = CATEGORIES[items.category[j]]
        obj: dict[str, Any] = {'asin': str(asins[j])}
        if descriptions[j]:
            obj['description'] = descriptions[j]
        obj['title'] = titles[j]
        if items.price_band[j] >= 0:
            obj['price'] = float(items.price[j])
        if items.has_image[j]:
            obj['imUrl'] = (f'http://ecx.images-amazon.com/images/I/{url_prefix[j]}1'
                            f'{url_ids[j].decode()}L._SY300_.jpg')
        related = {}
        for k, key in enumerate(('also_bought', 'also_viewed', 'bought_together')):
            picks = [str(asins[x]) for x in dict.fromkeys(related_pick[j, 4 * k:4 * k
                                                                        + related_n[j, k]])
                     if x != j]
            if picks:
                related[key] = picks
        if related:
            obj['related'] = related
        if not no_rank[j]:
            obj['salesRank'] = {ROOT.replace('&', '&amp;'): int(sales_rank[j])}
        obj['categories'] = [[ROOT, parent, leaf]]
        if items.brand[j] >= 0:
            obj['brand'] = look.brand_of(j)
        lines.append(repr(obj))
    return lines


def _ground_truth(cfg: SyntheticConfig, preset: str, seed: int, items: _Items,
                  inter: _Interactions, brands: list[str], user_ids: np.ndarray,
                  asins: np.ndarray) -> dict[str, Any]:
    leaves = [CATEGORIES[c][0] for c in range(cfg.num_categories)]
    top = int(items.popularity_band.max())
    planted_count = np.bincount(inter.users[inter.planted], minlength=cfg.num_users)
    users = {}
    for u in range(cfg.num_users):
        a = ATTRIBUTES[inter.attribute[u]]
        v = inter.value[u]
        value: Any = (brands[v] if a == 'brand' else leaves[v] if a == 'category'
                      else top if a == 'popularity' else int(v))
        users[str(user_ids[u])] = {'attribute': a, 'value': value,
                                   'planted': int(planted_count[u]),
                                   'interactions': int(inter.user_degree[u])}
    gt_items = {}
    for j in np.argsort(asins):
        meta = bool(items.has_meta[j])
        gt_items[str(asins[j])] = {
            'price': float(items.price[j]) if items.price_band[j] >= 0 else None,
            'price_band': int(items.price_band[j]) if items.price_band[j] >= 0 else None,
            'brand': brands[items.brand[j]] if items.brand[j] >= 0 else None,
            'category': leaves[items.category[j]] if meta else None,
            'popularity_band': int(items.popularity_band[j]),
            'interactions': int(items.degree[j]),
            'has_meta': meta, 'has_image': bool(items.has_image[j])}
    price_bands = []
    for b in range(NUM_BANDS):
        p = items.price[items.price_band == b]
        price_bands.append({'band': b, 'range': list(PRICE_RANGES[b]), 'items': len(p),
                            'low': float(p.min()), 'high': float(p.max())})
    pop_bands = []
    for b in np.unique(items.popularity_band):
        d = items.degree[items.popularity_band == b]
        pop_bands.append({'band': int(b), 'items': len(d), 'low': int(d.min()),
                          'high': int(d.max())})
    return {
        'preset': preset, 'seed': seed, 'attributes': list(ATTRIBUTES),
        'config': asdict(cfg),
        'planting': (
            'Each user draws one attribute uniformly from `attributes` and one value of it with '
            'probability proportional to the value\'s total interactions, among values with at '
            'least 1.5x the user\'s planted count of items. round(preference_strength * '
            'interactions) of the user\'s interactions are distinct items with that value '
            '(popularity: items of the top popularity band), drawn proportionally to the '
            'items\' remaining slots, in the order ' + ', '.join(PLANT_ORDER) + '; the rest '
            'is a random matching of all remaining user and item slots (global Zipf-like '
            'popularity). `planted` counts a user\'s planted interactions (it may fall short '
            'of the target when its value runs out of slots). Values: brand and category are '
            'the raw metadata strings (category = leaf of the path); price is the band index '
            '0-4 of `price_bands` (equal item counts, non-overlapping, so equal-frequency '
            '5-level binning of the prices recovers them); popularity is the band index of '
            '`popularity_bands`: floor(first_rank * 5 / items) of each item\'s total distinct '
            'interactions, ties sharing their lowest rank; only the bands listed there occur, '
            'and a builder that numbers the levels it finds gives band b the code of its '
            'position in that list (a builder that bins training counts only sees noisier '
            'levels). Items without metadata have no brand, category or price.'),
        'preference_strength': cfg.preference_strength,
        'price_bands': price_bands,
        'popularity_bands': pop_bands,
        'popular_band': top,
        'users': users,
        'items': gt_items,
    }


def _resolve_config(preset: str | SyntheticConfig) -> tuple[str, SyntheticConfig]:
    if isinstance(preset, SyntheticConfig):
        return 'custom', preset
    if preset not in PRESETS:
        raise DataBuildError(f'unknown synthetic preset {preset!r}; use one of '
                             f'{sorted(PRESETS)} or pass a SyntheticConfig')
    return preset, PRESETS[preset]


def generate(out_dir: str | os.PathLike, preset: str | SyntheticConfig = 'small',
             seed: int | None = None, images: bool = True, progress: bool = True
             ) -> dict[str, Any]:
    """Write a synthetic 2014-format dump with planted preferences into ``out_dir``.

    Files: ``reviews.json.gz`` (review JSON lines), ``meta.json.gz`` (one Python dict literal
    per line), ``images/<asin>.png`` (unless ``images=False``) and ``ground_truth.json``.
    Output is byte-identical for the same config and seed.

    Args:
        out_dir: folder to write into (created).
        preset: ``'small'``, ``'sports'`` or a :class:`SyntheticConfig`.
        seed: random seed (None: the config's ``seed``, 0 for the presets).
        images: also draw one PNG per item.
        progress: show a tqdm bar over images.

    Returns:
        A summary: paths, exact totals, counts of missing fields, achieved planted share per
        attribute and seconds per stage.
    """
    name, cfg = _resolve_config(preset)
    seed = cfg.seed if seed is None else int(seed)
    cfg = replace(cfg, seed=seed)
    cfg.validate()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    seconds: dict[str, float] = {}
    t0 = time.perf_counter()

    items = _make_items(cfg, rng)
    inter = _plant(cfg, items, rng)
    brands = brand_names(rng, cfg.num_brands)
    user_ids = _random_ids(rng, cfg.num_users, 'A', 14)
    asins = _random_ids(rng, cfg.num_items, 'B00', 10)
    seconds['structure'] = time.perf_counter() - t0
    logger.info('synthetic %s: planted %d interactions in %.1fs', name, len(inter.users),
                seconds['structure'])

    t = time.perf_counter()
    look = ItemLook(items.category, items.brand, items.latent_band, items.popularity_band,
                    brands)
    titles, descriptions, nouns = item_texts(look, rng)
    review_lines, n_dup = _review_lines(cfg, look, inter, nouns, user_ids, asins, rng)
    meta_lines = _meta_lines(cfg, items, look, titles, descriptions, asins, rng)
    seconds['text'] = time.perf_counter() - t
    t = time.perf_counter()
    paths = {'reviews': out / 'reviews.json.gz', 'meta': out / 'meta.json.gz',
             'ground_truth': out / 'ground_truth.json'}
    _write_gzip_lines(paths['reviews'], review_lines)
    _write_gzip_lines(paths['meta'], meta_lines)
    truth = _ground_truth(cfg, name, seed, items, inter, brands, user_ids, asins)
    _write_atomic(paths['ground_truth'], json.dumps(truth).encode('utf-8'))
    seconds['write'] = time.perf_counter() - t

    specs = image_specs(look, cfg.image_size, rng)    # drawn even when not rendered
    num_images = 0
    if images:
        t = time.perf_counter()
        paths['images'] = out / 'images'
        num_images = render_images(paths['images'], asins, specs, items.has_image,
                                    cfg.image_workers, progress)
        seconds['images'] = time.perf_counter() - t
    seconds['total'] = time.perf_counter() - t0

    share = {}
    for a, attr in enumerate(ATTRIBUTES):
        mask = inter.attribute == a
        planted = np.bincount(inter.users[inter.planted], minlength=cfg.num_users)[mask]
        share[attr] = round(float(planted.sum() / inter.user_degree[mask].sum()), 4)
    summary = {
        'preset': name, 'seed': seed, 'out_dir': str(out),
        'paths': {k: str(v) for k, v in paths.items()},
        'users': cfg.num_users, 'items': cfg.num_items,
        'interactions': len(inter.users), 'review_lines': len(review_lines),
        'duplicate_lines': n_dup, 'brands': cfg.num_brands, 'categories': cfg.num_categories,
        'items_without_meta': int((~items.has_meta).sum()),
        'items_without_brand': int((items.brand < 0).sum()),
        'items_without_price': int((items.price_band < 0).sum()),
        'items_without_image': int((~items.has_image).sum()),
        'images': num_images,
        'planted_share': share,
        'popularity_bands': [b['band'] for b in truth['popularity_bands']],
        'seconds': {k: round(v, 2) for k, v in seconds.items()},
    }
    logger.info('synthetic %s written to %s in %.1fs', name, out, seconds['total'])
    return summary
