"""Interaction cleaning: de-duplication and the iterative k-core filter."""
from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from data_builders.errors import DataBuildError

logger = logging.getLogger(__name__)


def drop_duplicate_pairs(interactions: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """Keep the earliest review of each (user, item) pair.

    Args:
        interactions: frame with columns ``user``, ``item`` and ``timestamp`` (may be missing).

    Returns:
        The de-duplicated frame in its original row order, and the number of rows dropped.
    """
    ranked = interactions.sort_values('timestamp', kind='stable', na_position='last')
    kept = ranked.drop_duplicates(['user', 'item'], keep='first').sort_index()
    return kept, len(interactions) - len(kept)


def k_core(interactions: pd.DataFrame, k: int = 5, item_k: int | None = None) -> pd.DataFrame:
    """Iteratively drop users with fewer than ``k`` and items with fewer than ``item_k``
    interactions until every remaining node has enough (the k-core of the bipartite graph).

    Args:
        interactions: de-duplicated frame with ``user`` and ``item`` columns.
        k: minimum interactions per user (and per item when ``item_k`` is None); ``k <= 1``
            keeps everything.
        item_k: minimum interactions per item, if it differs from ``k``.

    Raises:
        DataBuildError: when nothing survives the filter.
    """
    item_k = k if item_k is None else item_k
    if k < 0 or item_k < 0:
        raise DataBuildError(f'--k-core must be >= 0 (got {k})')
    users = interactions['user'].to_numpy()
    items = interactions['item'].to_numpy()
    user_codes, user_index = np.unique(users, return_inverse=True)
    item_codes, item_index = np.unique(items, return_inverse=True)
    alive = np.ones(len(interactions), dtype=bool)
    rounds = 0
    while True:
        rounds += 1
        user_deg = np.bincount(user_index[alive], minlength=len(user_codes))
        item_deg = np.bincount(item_index[alive], minlength=len(item_codes))
        keep = alive & (user_deg[user_index] >= k) & (item_deg[item_index] >= item_k)
        if keep.sum() == alive.sum():
            break
        alive = keep
    logger.info('k-core (user k=%d, item k=%d): %d of %d interactions kept after %d rounds',
                k, item_k, alive.sum(), len(alive), rounds)
    if not alive.any():
        raise DataBuildError(f'no interaction survives the {k}-core filter: lower --k-core '
                             f'(got {k}) or check that reviews and metadata match')
    return interactions[alive]
