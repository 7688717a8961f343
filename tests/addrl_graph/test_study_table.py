"""Control studies never lean to a catch-all value, and their tables stay readable."""
import numpy as np
import pytest
import torch

from addrl_graph.data.train_graph import TrainGraph
from addrl_graph.errors import ConfigError
from addrl_graph.explain.explainer import Explainer
from addrl_graph.explain.studies import ControlStudy, control_study, history_shares, study_table
from addrl_graph.nn.config import ModelConfig
from addrl_graph.nn.model import ADDRL
from addrl_graph.testing import graph_from_interactions

#: Items 0-5 have brand ``other`` and 6-7 ``unknown`` (the catch-alls), 8-9 brands a and b.
BRANDS = {'name': 'brand', 'values': ['a', 'b', 'other', 'unknown']}
ITEM_BRAND = [2, 2, 2, 2, 2, 2, 3, 3, 0, 1]
#: Training items of each user: seven lean to ``other`` (at least half their items), one to
#: ``unknown``, two to ``a``, one to ``b``.
HISTORIES = [[0, 1, 2], [1, 2, 3], [2, 3, 4], [3, 4, 5], [0, 4, 5], [0, 1, 5], [6, 7, 0],
             [8, 9], [8, 0]]


def _catch_all_explainer():
    user, item, split = [], [], []
    for u, history in enumerate(HISTORIES):
        user += [u] * len(history)
        item += history
        split += [0] * len(history)
        held_out = [i for i in range(10) if i not in history][:2]
        user += [u, u]
        item += held_out
        split += [1, 2]
    attr = np.array(ITEM_BRAND).reshape(-1, 1)
    data, meta = graph_from_interactions(np.array(user), np.array(item), np.array(split),
                                         len(HISTORIES), 10, attr, [BRANDS])
    torch.manual_seed(0)
    model = ADDRL.from_graph(TrainGraph.from_data(data, meta), ModelConfig(d_chunk=4))
    return Explainer(model, data, meta)


def test_study_never_leans_to_unknown_or_other(one_thread):
    ex = _catch_all_explainer()
    leaning = (history_shares(ex, 'brand') >= 0.5).sum(0).tolist()
    assert leaning == [2, 1, 7, 1]              # "other" is by far the commonest lean
    study = control_study(ex, 'brand', k=3)
    assert study.value == 'a' and len(study.users) == 2
    # asked for by name, a catch-all is still studied
    assert control_study(ex, 'brand', value='other', k=3).value == 'other'


def _study(values, shares, value):
    return ControlStudy('category', value, values, [2.0, 1.0, -1.0], ['U0'],
                        shares, 20)


def test_table_shows_leaned_value_top_others_and_the_rest():
    values = ['Nail Polish', 'Nail Polish Remover', 'Lipstick', 'Mascara', 'Eyeliner',
              'Foundation', 'Concealers & Neutralizers', 'Blush', 'other', 'unknown']
    rng = np.random.default_rng(0)
    shares = rng.dirichlet(np.ones(len(values)), size=3)
    study = _study(values, shares.tolist(), 'Nail Polish Remover')
    names, columns, rest = study.summary(others=5)
    order = [j for j in np.argsort(-shares.mean(0), kind='stable') if j != 1][:5]
    assert names == ['Nail Polish Remover'] + [values[j] for j in order] and rest == 4
    columns = np.array(columns)
    assert columns.shape == (3, 7)
    assert np.allclose(columns[:, 0], shares[:, 1])
    assert np.allclose(columns[:, -1], np.delete(shares, [1] + order, axis=1).sum(1))
    assert np.allclose(columns.sum(1), 1.0)

    head, rows = study_table(study, others=5, width=12)
    assert head[0] == 'xi' and head[1] == 'Nail…Remover' and head[-1] == 'rest (4)'
    assert len(head) == 8 and all(len(h) <= 12 for h in head)
    assert len(set(head)) == len(head)
    assert [r[0] for r in rows] == ['2', '1', '-1']
    assert rows[0][1] == f'{shares[0, 1]:.1%}'
    # the leaned-to value is never summed into the rest, even with no other value shown
    names, columns, rest = study.summary(others=0)
    assert names == ['Nail Polish Remover'] and rest == 9
    assert np.allclose(np.array(columns).sum(1), 1.0)


def test_prefix_sharing_headers_are_distinct():
    values = ['Nail Polish', 'Nail Polish Remover', 'Nail Polish Remover Pads']
    study = _study(values, [[0.5, 0.3, 0.2]] * 3, 'Nail Polish')
    head, _ = study_table(study, others=5, width=12)
    assert head == ['xi', 'Nail Polish', 'Nail…Remover', 'Nail Po…Pads']   # all shown
    assert study.summary(others=5)[2] == 0
    with pytest.raises(ConfigError, match='others must be >= 0'):
        study.summary(others=-1)
