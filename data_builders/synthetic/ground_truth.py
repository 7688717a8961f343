"""``ground_truth.json``: every user's planted preference and every item's attribute values."""
from __future__ import annotations

from dataclasses import asdict
from typing import Any

import numpy as np

from data_builders.synthetic.config import SyntheticConfig
from data_builders.synthetic.items import NUM_BANDS, PRICE_RANGES, Items
from data_builders.synthetic.planting import ATTRIBUTES, PLANT_ORDER, Interactions
from data_builders.synthetic.render import CATEGORIES


def ground_truth(cfg: SyntheticConfig, preset: str, seed: int, items: Items,
                  inter: Interactions, brands: list[str], user_ids: np.ndarray,
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
