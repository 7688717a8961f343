"""Metadata lines of a synthetic dump: one Python dict literal per item, as in 2014."""
from __future__ import annotations

from typing import Any

import numpy as np

from data_builders.synthetic.items import Items
from data_builders.synthetic.render import CATEGORIES, ItemLook

ROOT = 'Sports & Outdoors'

_URL_CHARS = np.frombuffer(b'0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz',
                           dtype=np.uint8)


def meta_lines(items: Items, look: ItemLook, titles: list[str], descriptions: list[str],
               asins: np.ndarray, num_categories: int, rng: np.random.Generator) -> list[str]:
    """One Python dict literal per item with metadata, sorted by asin: title, description,
    price, image URL, related items (random items of its category), sales rank (follows
    popularity), category path and brand, each only when the item has it."""
    n = len(asins)
    # Sales rank follows popularity with noise; ~5% of items have none.
    noisy = np.log(items.degree) + rng.normal(0, 0.3, size=n)
    place = np.empty(n, dtype=np.int64)
    place[np.argsort(-noisy, kind='stable')] = np.arange(n)
    sales_rank = 1 + np.floor((place / n) ** 1.5 * 1_500_000).astype(np.int64)
    sales_rank += rng.integers(0, 500, size=n)
    no_rank = rng.random(n) < 0.05
    # Related items: random items of the same category.
    by_cat = np.argsort(items.category, kind='stable')
    cat_start = np.searchsorted(items.category[by_cat], np.arange(num_categories))
    cat_count = np.bincount(items.category, minlength=num_categories)
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
