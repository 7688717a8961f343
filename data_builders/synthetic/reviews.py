"""Review lines of a synthetic dump: per-user timelines, ratings, texts and repeated pairs."""
from __future__ import annotations

import json

import numpy as np

from data_builders.synthetic.planting import Interactions
from data_builders.synthetic.render import ItemLook, review_texts, reviewer_names

FIRST_DAY = 1041379200      # 2003-01-01
LAST_DAY = 1406073600       # 2014-07-23, end of the 2014 crawl
DAY = 86400


def _timestamps(users: np.ndarray, degree: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Unix seconds of each interaction ``[E]`` (grouped by user, in that user's order):
    strictly increasing days per user inside 2003..2014-07. ``degree`` is ``[U]``."""
    e = len(users)
    span_days = (LAST_DAY - FIRST_DAY) // DAY
    mean_gap = np.clip(0.6 * span_days / degree, 1.0, 90.0)
    gaps = 1 + np.floor(rng.exponential(mean_gap[users] - 0.999)).astype(np.int64)
    first = np.concatenate([[0], np.cumsum(degree)[:-1]])
    gaps[first] = 0
    cum = np.cumsum(gaps)
    offset = cum - cum[first][users]
    span = offset[np.cumsum(degree) - 1]
    too_long = span >= span_days
    if too_long.any():
        pos = np.arange(e) - first[users]
        offset = np.where(too_long[users], pos, offset)
        span = np.where(too_long, degree - 1, span)
    start = np.floor(rng.random(len(degree)) * (span_days - span)).astype(np.int64)
    day = start[users] + offset
    return FIRST_DAY + day * DAY


def review_lines(look: ItemLook, inter: Interactions, nouns: list[str], user_ids: np.ndarray,
                 asins: np.ndarray, duplicate_share: float,
                 rng: np.random.Generator) -> tuple[list[str], int]:
    """Review JSON lines sorted by asin then time, plus ``duplicate_share * E`` repeats of a
    pair (later timestamp); returns them and the number of repeats."""
    e = len(inter.users)
    # Per-user time order: a random sequence.
    order = np.lexsort((rng.random(e), inter.users))
    users, its, planted = inter.users[order], inter.items[order], inter.planted[order]
    ts = _timestamps(users, inter.user_degree, rng)
    probs = np.where(planted[:, None], [0.02, 0.03, 0.08, 0.25, 0.62],
                     [0.04, 0.05, 0.13, 0.28, 0.50])
    rating = 1 + (rng.random(e)[:, None] > np.cumsum(probs, axis=1)).sum(axis=1)
    rating = np.minimum(rating, 5)

    n_dup = round(duplicate_share * e)
    dup = np.sort(rng.choice(e, size=n_dup, replace=False))
    users = np.concatenate([users, users[dup]])
    its = np.concatenate([its, its[dup]])
    ts = np.concatenate([ts, ts[dup] + DAY * rng.integers(1, 60, size=n_dup)])
    rating = np.concatenate([rating, rating[dup]])
    source = np.concatenate([np.arange(e), dup])      # text of a repeat = its original's

    texts, summaries = review_texts(look, nouns, its[:e], rating[:e], rng)
    names = reviewer_names(rng, len(user_ids))
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
