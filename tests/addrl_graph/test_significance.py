"""Paired tests over users against direct scipy calls, the all-zero-difference case, pooling
over seeds and the mean ± sample std of the tables."""
from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch
from scipy import stats

from addrl_graph.errors import ConfigError
from addrl_graph.metrics.significance import (
    mean_std,
    paired_t_test,
    paired_tests,
    pool_seeds,
    seed_summary,
    wilcoxon_test,
)

REF = [0.5, 0.2, 0.0, 0.3, 0.1, 0.4, 0.6]   # per-user Recall@20 of the reference model
BASE = [0.1, 0.2, 0.1, 0.0, 0.0, 0.2, 0.3]  # and of a baseline; user 1 ties


def test_paired_t_test_is_scipys_and_the_formula():
    got = paired_t_test(REF, BASE)
    expect = stats.ttest_rel(REF, BASE)
    d = np.subtract(REF, BASE)
    assert got.statistic == pytest.approx(float(expect.statistic))
    assert got.statistic == pytest.approx(d.mean() / (d.std(ddof=1) / math.sqrt(len(d))))
    assert got.p_value == pytest.approx(float(expect.pvalue))
    assert got.mean_diff == pytest.approx(d.mean()) and got.n == 7 and got.test == 't'
    assert got.significant == (float(expect.pvalue) < 0.05)


@pytest.mark.parametrize('zero_method', ['wilcox', 'pratt', 'zsplit'])
def test_wilcoxon_is_scipys(zero_method):
    got = wilcoxon_test(torch.tensor(REF), torch.tensor(BASE), zero_method=zero_method)
    expect = stats.wilcoxon(REF, BASE, zero_method=zero_method)
    assert got.statistic == pytest.approx(float(expect.statistic))
    assert got.p_value == pytest.approx(float(expect.pvalue))
    assert got.mean_diff == pytest.approx(np.mean(np.subtract(REF, BASE)))


def test_wilcoxon_statistic_by_hand():
    # 'wilcox' drops the tie: |d| = .4 .1 .3 .1 .2 .3 -> ranks 6 1.5 4.5 1.5 3 4.5; the one
    # negative difference (user 2, -.1) has rank 1.5, the smaller signed-rank sum
    assert wilcoxon_test(REF, BASE).statistic == pytest.approx(1.5)


def test_significance_mark():
    base = np.linspace(0.0, 0.5, 12)
    clear = paired_tests(base + 0.2 + 0.01 * np.cos(np.arange(12)), base)
    assert all(t.significant and t.mark == '*' and t.p_value < 0.05 for t in clear.values())
    assert set(clear) == {'t', 'wilcoxon'}
    loose = paired_t_test(REF, BASE, alpha=1e-6)
    assert not loose.significant and loose.mark == ''
    assert loose.to_dict() == dict(test='t', statistic=loose.statistic, p_value=loose.p_value,
                                   mean_diff=loose.mean_diff, n=7, alpha=1e-6, significant=False)


def test_all_differences_zero():
    with warnings.catch_warnings():
        warnings.simplefilter('error')  # scipy would warn (0 / 0); no scipy call is made
        tests = paired_tests(REF, list(REF))
    for name, t in tests.items():
        assert (t.test, t.statistic, t.p_value, t.mean_diff, t.n) == (name, 0.0, 1.0, 0.0, 7)
        assert not t.significant


def test_bad_pairs():
    with pytest.raises(ConfigError, match='same users'):
        paired_t_test(REF, BASE[:-1])
    with pytest.raises(ConfigError, match='at least 2'):
        wilcoxon_test([0.1], [0.2])
    with pytest.raises(ConfigError, match='finite'):
        paired_t_test([0.1, float('nan')], [0.2, 0.1])
    with pytest.raises(ConfigError, match='zero_method'):
        wilcoxon_test(REF, BASE, zero_method='drop')


def test_pool_seeds():
    seeds = [[0.0, 0.2, 0.4], [0.2, 0.2, 0.1]]
    assert pool_seeds(seeds).tolist() == pytest.approx([0.1, 0.2, 0.25])
    assert pool_seeds(seeds, how='pool').tolist() == pytest.approx([0.0, 0.2, 0.4,
                                                                    0.2, 0.2, 0.1])
    with pytest.raises(ConfigError, match='same users'):
        pool_seeds([[0.1, 0.2], [0.1]])
    with pytest.raises(ConfigError, match='how'):
        pool_seeds(seeds, how='median')


def test_mean_std_is_the_sample_std():
    assert mean_std([0.1, 0.2, 0.3]) == pytest.approx((0.2, 0.1))  # ddof=1: sqrt(.02 / 2)
    mean, std = mean_std([0.4])
    assert mean == 0.4 and math.isnan(std)
    with pytest.raises(ConfigError, match='non-empty'):
        mean_std([])
    summary = seed_summary([{'recall@20': 0.1, 'num_users': 5, 'only_here': 1.0},
                            {'recall@20': 0.3, 'num_users': 5}])
    assert set(summary) == {'recall@20', 'num_users'}
    assert summary['recall@20'] == pytest.approx((0.2, math.sqrt(0.02)))
    assert summary['num_users'] == (5.0, 0.0)
