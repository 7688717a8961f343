"""Seeded per-user train / validation / test splits (DESIGN: Protocol).

Each protocol ranks every user's interactions (a seeded random order, or newest first) and
holds out the first ``n_test`` of them as test and the next ``n_valid`` as validation; the
protocols differ in that order and in the counts, for a user with ``n`` interactions:

- ``paper`` (default): random order; ``n_test = min(round(0.2 n), n - 1)``, then 10% of all
  training interactions, drawn at random over all users (each user's reserved training one
  excluded), become validation.
- ``mmrec``: MMRec's own rule (enoche/MMRec ``preprocessing/1splitting.ipynb``, cell 6,
  @ e775373b; see enoche/MMRec#26): the user's interactions in random order (MMRec shuffles
  the frame, then sorts it by user); ``n < 10``: 1 validation and 1 test; else ``h =
  floor(0.2 n)`` held out, ``floor(h / 2)`` validation and ``h - floor(h / 2)`` test. On the
  Sports 5-core (35,598 users) that is 218,409 / 37,899 / 40,029. MMRec's rule is made for
  5-cores; here a user with ``n = 2`` gets 1 train + 1 test and ``n = 1`` train only (MMRec
  would leave no training interaction, or mislabel).
- ``random-811``: what ``mmrec`` meant before: random order, 10% test and 10% validation per
  user, each count rounded down or up at random so the shares are 8:1:1 in expectation.
- ``temporal``: RecBole's ordered ratio split (``order: TO``, ``split: {RS: [0.8, 0.1,
  0.1]}``, ``group_by: user``; ``Dataset._calcu_split_ids``): oldest to train, newest to
  test; ``n_valid = floor(0.1 n)`` and ``n_test = floor(0.1 n)``, each raised to 1 while it is
  0 and more than one training interaction is left (test first). Needs every interaction's
  time (:func:`time_order`); ties keep the record order (the later record is newer).
- ``loo``: leave-one-out (RecBole ``split: {LS: valid_and_test}``): the newest interaction is
  test, the one before validation, the rest train; ``n = 2``: 1 train + 1 test, ``n = 1``:
  train only. Without times the order is random (seeded).

Every user keeps at least one training interaction.
"""
from __future__ import annotations

import logging
from collections.abc import Callable

import numpy as np

from addrl_graph.data.schema import TEST, TRAIN, VALID
from data_builders.errors import DataBuildError
from data_builders.readers import TIME_ORDERED

logger = logging.getLogger(__name__)

PROTOCOLS = ('paper', 'mmrec', 'random-811', 'temporal', 'loo')


def _ranks(user: np.ndarray, order: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each row's rank inside its user's rows, that user's row count, and a dense user id per
    row, given ``order`` that sorts the rows by user and then by rank.

    Shapes: user [E], order [E] → rank [E], count [E], group [E].
    """
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


def _random_order(user: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Rows sorted by user, in a random order inside each user ``[E]``."""
    return np.lexsort((rng.random(len(user)), user))


def _newest_first(user: np.ndarray, time: np.ndarray) -> np.ndarray:
    """Rows sorted by user, newest first inside each user; of equal times the later row
    counts as newer ``[E]``."""
    return np.lexsort((-np.arange(len(user)), -time, user))


def _stochastic_round(x: np.ndarray, group: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Round ``x [E]`` (constant within each user's rows) down or up at random with
    ``E[result] = x``, drawing once per user (``group [E]``: dense user id of each row)."""
    draw = rng.random(int(group.max()) + 1 if len(group) else 0)
    return np.floor(x + draw[group]).astype(np.int64)


def _random_split(user: np.ndarray, protocol: str, rng: np.random.Generator) -> np.ndarray:
    """``paper`` and ``random-811`` (the generator's draws are part of their definition: a
    seed gives the same split as in earlier versions)."""
    rank, count, group = _ranks(user, _random_order(user, rng))
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


def _mmrec_counts(count: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """MMRec's ``(n_valid, n_test)`` for users of ``count [E]`` interactions (module doc)."""
    held = (count * 0.2).astype(np.int64)            # MMRec: int(n_items * 0.2)
    n_valid = np.where(count < 10, 1, held // 2)
    n_test = np.where(count < 10, 1, held - held // 2)
    n_test = np.minimum(n_test, count - 1)           # users under 3: keep one for training
    return np.minimum(n_valid, count - 1 - n_test), n_test


def _recbole_ratio_counts(count: np.ndarray, ratios: tuple[float, float, float] = (0.8, 0.1, 0.1)
                          ) -> tuple[np.ndarray, np.ndarray]:
    """RecBole's ``_calcu_split_ids`` per user of ``count [E]``: every part but train rounded
    down, then (test first) a part of 0 whose share is above 0 raised to 1 while train keeps
    more than one. Returns ``(n_valid, n_test)``."""
    total = sum(ratios)
    shares = [r / total for r in ratios]
    parts = [(s * count).astype(np.int64) for s in shares]
    train = count - parts[1] - parts[2]
    for i in (2, 1):
        exact = shares[i] * count
        bump = (train > 1) & (exact > 0) & (exact < 1)
        parts[i] = parts[i] + bump
        train = train - bump
    return parts[1], parts[2]


def _loo_counts(count: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Leave-one-out ``(n_valid, n_test)``: 1 and 1, fewer when one training one is left."""
    n_test = np.minimum(1, count - 1)
    return np.minimum(1, count - 1 - n_test), n_test


COUNTS: dict[str, Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]] = {
    'mmrec': _mmrec_counts, 'temporal': _recbole_ratio_counts, 'loo': _loo_counts}


def _held_out_order(user: np.ndarray, protocol: str, time: np.ndarray | None,
                    rng: np.random.Generator) -> np.ndarray:
    """The order in which ``protocol`` holds a user's rows out: newest first, or random."""
    missing = len(user) if time is None else int(np.isnan(time).sum())
    if protocol == 'temporal' and missing:
        raise DataBuildError(
            f'--split temporal orders each user\'s interactions by time, but {missing:,} of '
            f'{len(user):,} have no timestamp: build from reviews with times (2014/2018 '
            'unixReviewTime or reviewTime, 2023 timestamp) or from time-ordered lines '
            '(--format sequence), or pass --split mmrec, random-811, paper or loo (these '
            'need no times)')
    if protocol == 'loo' and not missing:
        return _newest_first(user, time)
    if protocol == 'loo':
        logger.warning('--split loo: %d of %d interactions have no time: each user\'s held-out '
                       'interactions are drawn at random (seeded)', missing, len(user))
        return _random_order(user, rng)
    return _random_order(user, rng) if protocol == 'mmrec' else _newest_first(user, time)


def split_interactions(user: np.ndarray, protocol: str = 'paper', seed: int = 0,
                       time: np.ndarray | None = None) -> np.ndarray:
    """Assign each interaction to train (0), validation (1) or test (2).

    Args:
        user: user index of every interaction ``[E]``.
        protocol: one of :data:`PROTOCOLS` (module docstring).
        seed: seed of the split's own generator.
        time: each interaction's place in time ``[E]`` (larger is newer, NaN unknown), or
            ``None``: read by ``temporal`` (required) and ``loo`` (random order without it).

    Returns:
        ``split [E]`` as uint8.
    """
    if protocol not in PROTOCOLS:
        raise DataBuildError(f'--split must be one of {PROTOCOLS} (got {protocol!r})')
    user = np.asarray(user)
    rng = np.random.default_rng(seed)
    if protocol in ('paper', 'random-811'):
        return _random_split(user, protocol, rng)
    if time is not None:
        time = np.asarray(time, dtype=np.float64)
        if time.shape != user.shape:
            raise DataBuildError(f'time has shape {time.shape}, user {user.shape}')
    rank, count, _ = _ranks(user, _held_out_order(user, protocol, time, rng))
    n_valid, n_test = COUNTS[protocol](count)
    split = np.full(len(rank), TRAIN, dtype=np.uint8)
    split[rank < n_test] = TEST
    split[(rank >= n_test) & (rank < n_test + n_valid)] = VALID
    return split


def time_order(timestamps: np.ndarray, record: np.ndarray, fmt: str) -> np.ndarray:
    """Each interaction's place in time ``[E]`` for :func:`split_interactions`: its
    timestamp, or, for a format whose records come in time order
    (:data:`~data_builders.readers.TIME_ORDERED`), its record number in the dump.

    Args:
        timestamps: seconds ``[E]`` (NaN where the dump has none).
        record: each interaction's record number in the dump ``[E]``.
        fmt: the dump format.
    """
    if fmt in TIME_ORDERED:
        return np.asarray(record, dtype=np.float64)
    return np.asarray(timestamps, dtype=np.float64)


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
