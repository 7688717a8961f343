"""Interactions of a synthetic dump: each user's planted preference, then exact matching.

Every user and item first receives its target degree; planted slots are matched inside their
value group, the rest freely, and repeated (user, item) pairs are swapped away.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from data_builders.errors import DataBuildError
from data_builders.synthetic.config import SyntheticConfig
from data_builders.synthetic.items import Items, rank_curve_counts

ATTRIBUTES = ('price', 'popularity', 'brand', 'category')
#: Order in which planted slots are matched: scarcest groups first.
PLANT_ORDER = ('popularity', 'brand', 'price', 'category')


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


def _groups(items: Items) -> dict[str, np.ndarray]:
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
class Interactions:
    users: np.ndarray         # [E] user index
    items: np.ndarray         # [E] item index
    planted: np.ndarray       # [E] bool: drawn from the user's preferred value
    attribute: np.ndarray     # [U] index into ATTRIBUTES
    value: np.ndarray         # [U] group index of the value
    user_degree: np.ndarray   # [U]


def plant(cfg: SyntheticConfig, items: Items,
           rng: np.random.Generator) -> Interactions:
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
    return Interactions(users, items_, planted, attribute, value, user_degree)
