r"""Distance correlation between the factors of a representation: the independence term of
DMRL and DGCF.

Distance correlation (Székely et al., Ann. Statist. 2007) of two samples
:math:`X \in \mathbb{R}^{n \times d_1}`, :math:`Y \in \mathbb{R}^{n \times d_2}`:

.. math::
    \mathrm{dCor}(X, Y) = \frac{\mathrm{dCov}(X, Y)}{\sqrt{\mathrm{dCov}(X, X)\,
    \mathrm{dCov}(Y, Y)}}, \qquad
    \mathrm{dCov}(X, Y) = \sqrt{\tfrac{1}{n^2} \textstyle\sum_{ab} A_{ab} B_{ab}},

with :math:`A, B` the doubly centred Euclidean distance matrices of the rows. It is 0 only
for independent samples and 1 for samples that are a similarity transform of each other. The
small constants (``1e-8`` under the square roots, ``1e-10`` in the denominator) are those of
DGCF's and DMRL's code, which keep the gradient finite at zero distances.

Shapes legend: ``n`` rows (users or items), ``K`` factors, ``d`` factor width.
"""
from __future__ import annotations

import itertools

from torch import Tensor

#: Rows of a batch the independence term reads (its cost grows with their square).
MAX_ROWS = 256
PAIRS = ('all', 'adjacent')


def centered_distances(x: Tensor) -> Tensor:
    """The doubly centred Euclidean distance matrix of the rows: ``[n, d]`` → ``[n, n]``."""
    sq = x.pow(2).sum(dim=-1, keepdim=True)
    dist = (sq - 2 * x @ x.t() + sq.t()).clamp_min(0).add(1e-8).sqrt()
    return dist - dist.mean(dim=0, keepdim=True) - dist.mean(dim=1, keepdim=True) + dist.mean()


def _covariance(a: Tensor, b: Tensor) -> Tensor:
    return (a * b).mean().clamp_min(0).add(1e-8).sqrt()


def _correlation(covariance: Tensor, variance_a: Tensor, variance_b: Tensor) -> Tensor:
    return covariance / ((variance_a * variance_b).sqrt() + 1e-10)


def distance_correlation(x: Tensor, y: Tensor) -> Tensor:
    """:math:`\\mathrm{dCor}(X, Y)` of ``[n, d_1]`` and ``[n, d_2]`` rows: a scalar in
    :math:`[0, 1]`."""
    a, b = centered_distances(x), centered_distances(y)
    return _correlation(_covariance(a, b), _covariance(a, a), _covariance(b, b))


def factor_correlation(factors: Tensor, pairs: str = 'all') -> Tensor:
    """Mean distance correlation over pairs of factors of ``[n, K, d]`` rows: every pair
    ``k < k'`` (``'all'``, DMRL) or neighbours ``(k, k + 1)`` (``'adjacent'``, DGCF). Zero
    with fewer than two rows or factors.

    Shapes:
        - **factors** :math:`[n, K, d]` → scalar
    """
    if pairs not in PAIRS:
        raise ValueError(f'pairs must be one of {PAIRS} (got {pairs!r})')
    n, K, _ = factors.shape
    if n < 2 or K < 2:
        return factors.new_zeros(())
    centred = [centered_distances(factors[:, k]) for k in range(K)]
    variance = [_covariance(a, a) for a in centred]
    chosen = (itertools.combinations(range(K), 2) if pairs == 'all'
              else zip(range(K - 1), range(1, K)))
    terms = [_correlation(_covariance(centred[i], centred[j]), variance[i], variance[j])
             for i, j in chosen]
    return sum(terms) / len(terms)
