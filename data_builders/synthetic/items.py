"""Items of a synthetic dump: brands, categories, price bands and exact degrees."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from data_builders.errors import DataBuildError
from data_builders.synthetic.config import SyntheticConfig

NUM_BANDS = 5
#: Nominal price range of each band; prices are ``k + 0.99`` with ``lo <= k < hi``.
PRICE_RANGES = ((2, 10), (10, 25), (25, 50), (50, 100), (100, 350))

_ALNUM = np.frombuffer(b'0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ', dtype=np.uint8)


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


def random_ids(rng: np.random.Generator, n: int, prefix: str, length: int) -> np.ndarray:
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
class Items:
    has_meta: np.ndarray      # [I] bool
    brand: np.ndarray         # [I] brand index or -1
    category: np.ndarray      # [I] category index (latent for items without metadata)
    price: np.ndarray         # [I] float, NaN where missing
    price_band: np.ndarray    # [I] band of the price, -1 where missing
    latent_band: np.ndarray   # [I] price band used by text and image (price_band or drawn)
    degree: np.ndarray        # [I] exact number of distinct users
    popularity_band: np.ndarray  # [I]
    has_image: np.ndarray     # [I] bool


def make_items(cfg: SyntheticConfig, rng: np.random.Generator) -> Items:
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
    return Items(has_meta, brand, category, price, price_band, latent_band, degree,
                  equal_frequency_levels(degree), has_image)
