"""Seeded per-user train / validation / test splits (DESIGN: Protocol).

``paper``: per user a random 8:2 train/test split, then 10% of the training interactions,
chosen at random over all users, become validation. ``mmrec``: per user a random 8:1:1 split (held-out counts rounded at random so the shares
are 8:1:1 in expectation for every user size).
Every user keeps at least one training interaction.
"""
from __future__ import annotations

import logging

import numpy as np

from addrl_graph.data.schema import TEST, TRAIN, VALID
from data_builders.errors import DataBuildError

logger = logging.getLogger(__name__)

PROTOCOLS = ('paper', 'mmrec')


def _rank_within_user(user: np.ndarray, rng: np.random.Generator
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Random rank of each row inside its user's rows, that user's row count, and a dense
    user id per row.

    Shapes: user [E] → rank [E], count [E], group [E].
    """
    order = np.lexsort((rng.random(len(user)), user))
    sorted_user = user[order]
    starts = np.flatnonzero(np.r_[True, sorted_user[1:] != sorted_user[:-1]])
    counts = np.diff(np.r_[starts, len(user)])
    rank_sorted = np.arange(len(user)) - np.repeat(starts, counts)
    rank = np.empty(len(user), dtype=np.int64)
    rank[order] = rank_sorted
    count = np.empty(len(user), dtype=np.int64)
    count[order] = np.repeat(counts, counts)
    group = np.empty(len(user), dtype=np.int64)
    group[order] = np.repeat(np.arange(len(counts)), counts)
    return rank, count, group


def _stochastic_round(x: np.ndarray, group: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Round ``x [E]`` (constant within each user's rows) down or up at random with
    ``E[result] = x``, drawing once per user (``group [E]``: dense user id of each row)."""
    draw = rng.random(int(group.max()) + 1 if len(group) else 0)
    return np.floor(x + draw[group]).astype(np.int64)


def split_interactions(user: np.ndarray, protocol: str = 'paper', seed: int = 0) -> np.ndarray:
    """Assign each interaction to train (0), validation (1) or test (2).

    Args:
        user: user index of every interaction ``[E]``.
        protocol: ``'paper'`` or ``'mmrec'``.
        seed: seed of the split's own generator.

    Returns:
        ``split [E]`` as uint8.
    """
    if protocol not in PROTOCOLS:
        raise DataBuildError(f'--split must be one of {PROTOCOLS} (got {protocol!r})')
    rng = np.random.default_rng(seed)
    rank, count, group = _rank_within_user(np.asarray(user), rng)
    split = np.full(len(rank), TRAIN, dtype=np.uint8)
    if protocol == 'paper':
        n_test = np.minimum(np.rint(0.2 * count), count - 1)
        split[rank < n_test] = TEST
        # Rank n_test is each user's reserved training interaction; the rest may become
        # validation, 10% of all training interactions drawn at random.
        candidates = np.flatnonzero(rank > n_test)
        n_valid = int(round(0.1 * int((split == TRAIN).sum())))
        chosen = rng.choice(candidates, size=min(n_valid, len(candidates)), replace=False)
        split[chosen] = VALID
    else:
        # Stochastic rounding keeps the expected shares at exactly 8:1:1 even when most users
        # have 5-10 interactions (plain rounding up would hold out 40% of a 5-item user).
        n_test = _stochastic_round(0.1 * count, group, rng)
        n_valid = _stochastic_round(0.1 * count, group, rng)
        n_test = np.minimum(n_test, count - 1)
        n_valid = np.minimum(n_valid, count - 1 - n_test)
        split[rank < n_test] = TEST
        split[(rank >= n_test) & (rank < n_test + n_valid)] = VALID
    return split


def require_held_out(split: np.ndarray, protocol: str, allow_empty: bool = False) -> None:
    """Refuse a ``split [E]`` without validation or test interactions (a graph that trains to
    0.0 metrics over 0 users), or with ``allow_empty`` only warn about it.

    Raises:
        DataBuildError: naming the empty split(s) and what to do.
    """
    empty = [name for name, code in (('validation', VALID), ('test', TEST))
             if not (split == code).any()]
    if not empty:
        return
    message = (f'the {protocol} split of {len(split)} interactions leaves the '
               f'{" and ".join(empty)} split empty (users need about 3 interactions to hold one '
               'out, and validation draws 10% of the training ones)')
    if allow_empty:
        logger.warning('%s; building anyway (--allow-empty-splits)', message)
        return
    raise DataBuildError(f'{message}: build from a larger dump, or pass --allow-empty-splits '
                         'to write the graph anyway')
