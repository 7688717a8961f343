r"""Paired significance tests over users, and the seed summaries of a comparison table.

A comparison pairs each evaluated user's metric under the reference model (AD-DRL) with the same
user's metric under a baseline: both arrays come from :func:`~addrl_graph.metrics.evaluate.
evaluate` with ``per_user=True`` on the same graph and split, so their
:attr:`~addrl_graph.metrics.per_user.UserMetrics.users` are the same ids in the same order.

- :func:`paired_t_test`: ``scipy.stats.ttest_rel`` (two-sided).
- :func:`wilcoxon_test`: ``scipy.stats.wilcoxon`` (two-sided, scipy's ``method='auto'``: the
  exact distribution for small samples without ties or zeros, the normal approximation
  otherwise). ``zero_method='wilcox'`` (scipy's default, and what Elliot reports) drops the
  users whose two values are equal; per-user Recall@20 is 0 under both models for many users,
  so the test then speaks of the users on which the models differ. ``'pratt'`` (ranks the
  zeros, then drops them; more conservative) and ``'zsplit'`` are scipy's alternatives.
- When every difference is zero (identical per-user values) neither test is defined (the
  t statistic is 0 / 0, Wilcoxon has no pairs left): both return statistic 0.0, p-value 1.0,
  not significant, without calling scipy.
- :func:`pool_seeds` turns per-seed arrays into one paired array. ``'average'`` (the default)
  averages each user over the seeds first, so the paired unit stays the user and ``n`` is the
  number of users; ``'pool'`` concatenates the user × seed pairs (``n`` = users × seeds), which
  treats seeds of the same user as independent and so overstates the evidence.
- :func:`mean_std` and :func:`seed_summary`: mean ± *sample* standard deviation (``ddof=1``)
  over seeds; one seed has no sample std (nan).

scipy is imported inside the functions that call it (``import scipy.stats`` takes seconds).

Shapes legend: ``U_e`` evaluated users, ``S`` seeds.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from functools import partial
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from addrl_graph.errors import ConfigError

ALPHA = 0.05
POOLING = ('average', 'pool')
ZERO_METHODS = ('wilcox', 'pratt', 'zsplit')


@dataclass(frozen=True)
class PairedTest:
    """One paired test of ``reference`` against ``baseline``.

    Attributes:
        test: ``'t'`` or ``'wilcoxon'``.
        statistic: the t statistic, or Wilcoxon's (scipy's two-sided ``statistic``, the smaller
            of the signed-rank sums).
        p_value: two-sided p-value.
        mean_diff: mean of ``reference - baseline`` (positive: the reference is better).
        n: number of pairs.
        alpha: the significance level. (default: ``0.05``)
    """
    test: str
    statistic: float
    p_value: float
    mean_diff: float
    n: int
    alpha: float = ALPHA

    @property
    def significant(self) -> bool:
        """``p_value < alpha``."""
        return self.p_value < self.alpha

    @property
    def mark(self) -> str:
        """``'*'`` when significant, else ``''`` (for tables)."""
        return '*' if self.significant else ''

    def to_dict(self) -> dict[str, float | int | str | bool]:
        """Plain values for JSON, ``significant`` included."""
        return dict(asdict(self), significant=self.significant)


def _pairs(reference: ArrayLike, baseline: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Both ``[U_e]`` arrays as float64, checked to be paired and finite."""
    ref, base = (np.asarray(x, dtype=np.float64) for x in (reference, baseline))
    if ref.ndim != 1 or ref.shape != base.shape:
        raise ConfigError(f'paired tests need two 1-D arrays of the same users '
                          f'(got shapes {ref.shape} and {base.shape})')
    if ref.size < 2:
        raise ConfigError(f'paired tests need at least 2 pairs (got {ref.size})')
    if not (np.isfinite(ref).all() and np.isfinite(base).all()):
        raise ConfigError('paired tests need finite metric values (got nan or inf)')
    return ref, base


def _paired(test: str, reference: ArrayLike, baseline: ArrayLike, alpha: float,
            scipy_test: Callable[[np.ndarray, np.ndarray], Any]) -> PairedTest:
    """``scipy_test(reference, baseline)`` as a :class:`PairedTest`; no call when every
    difference is zero (statistic 0.0, p-value 1.0)."""
    ref, base = _pairs(reference, baseline)
    diff = ref - base
    if not diff.any():
        return PairedTest(test, 0.0, 1.0, 0.0, int(diff.size), alpha)
    result = scipy_test(ref, base)
    return PairedTest(test, float(result.statistic), float(result.pvalue), float(diff.mean()),
                      int(diff.size), alpha)


def paired_t_test(reference: ArrayLike, baseline: ArrayLike, alpha: float = ALPHA) -> PairedTest:
    """Paired t-test (``scipy.stats.ttest_rel``, two-sided) of ``[U_e]`` per-user values."""
    from scipy import stats
    return _paired('t', reference, baseline, alpha, stats.ttest_rel)


def wilcoxon_test(reference: ArrayLike, baseline: ArrayLike, zero_method: str = 'wilcox',
                  alpha: float = ALPHA) -> PairedTest:
    """Wilcoxon signed-rank test (``scipy.stats.wilcoxon``, two-sided) of ``[U_e]`` per-user
    values; ``zero_method`` as in the module docstring. (default: ``'wilcox'``)"""
    from scipy import stats
    if zero_method not in ZERO_METHODS:
        raise ConfigError(f'zero_method must be one of {ZERO_METHODS} (got {zero_method!r})')
    return _paired('wilcoxon', reference, baseline, alpha,
                   partial(stats.wilcoxon, zero_method=zero_method))


def paired_tests(reference: ArrayLike, baseline: ArrayLike, alpha: float = ALPHA,
                 zero_method: str = 'wilcox') -> dict[str, PairedTest]:
    """``{'t': paired_t_test(...), 'wilcoxon': wilcoxon_test(...)}`` of the same pairs."""
    return {'t': paired_t_test(reference, baseline, alpha),
            'wilcoxon': wilcoxon_test(reference, baseline, zero_method, alpha)}


def pool_seeds(per_seed: Sequence[ArrayLike], how: str = 'average') -> np.ndarray:
    """One paired array from ``S`` per-seed ``[U_e]`` arrays of the same users.

    Args:
        per_seed: each seed's per-user values, users in the same order in every seed.
        how: ``'average'`` — ``[U_e]`` mean of each user over the seeds (the paired unit is
            the user); ``'pool'`` — ``[S * U_e]`` user × seed pairs, seed after seed (pool the
            baseline's seeds in the same order). (default: ``'average'``)
    """
    if how not in POOLING:
        raise ConfigError(f'how must be one of {POOLING} (got {how!r})')
    arrays = [np.asarray(x, dtype=np.float64) for x in per_seed]
    if not arrays or any(a.ndim != 1 or a.shape != arrays[0].shape for a in arrays):
        raise ConfigError(f'pool_seeds needs 1-D arrays of the same users, one per seed '
                          f'(got shapes {[a.shape for a in arrays]})')
    stacked = np.stack(arrays)  # [S, U_e]
    return stacked.mean(axis=0) if how == 'average' else stacked.reshape(-1)


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (``ddof=1``) of one figure over seeds; the std is
    nan for a single seed."""
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1 or array.size == 0:
        raise ConfigError(f'mean_std needs a non-empty list of numbers (got {values!r})')
    return float(array.mean()), (float(array.std(ddof=1)) if array.size > 1 else math.nan)


def seed_summary(results: Sequence[Mapping[str, float]]) -> dict[str, tuple[float, float]]:
    """``key → (mean, sample std)`` over seeds of every key the per-seed result dicts (as
    :func:`~addrl_graph.metrics.evaluate.evaluate` returns them) share."""
    keys = [key for key in results[0] if all(key in r for r in results)] if results else []
    return {key: mean_std([r[key] for r in results]) for key in keys}
