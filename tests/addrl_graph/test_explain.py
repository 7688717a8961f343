"""Recommend / explain: terms add up to the score, control of Eq. 14, ids, the commands."""
import json
import os
import subprocess
import sys

import pytest
import torch

from addrl_graph.nn.config import ModelConfig
from addrl_graph.data.schema import INTERACTS, TRAIN, VALID
from addrl_graph.data.train_graph import TrainGraph
from addrl_graph.errors import ConfigError
from addrl_graph.explain.explainer import Explainer, chunk_names, explain, recommend
from addrl_graph.nn.model import ADDRL
from addrl_graph.explain.studies import value_shares


def _some_users(ex, n=5):
    return ex.meta['users'][:n]


def _model_scores(model, data, meta, u):
    """``[I]`` scores of user ``u`` (``[1]``) with every item as the training loss computes them
    (:meth:`ADDRL.chunk_scores`, Eq. 11), on a training graph of its own: a path apart from the
    ranking tables the explainer scores with."""
    users, items = model.chunks(TrainGraph.from_data(data, meta))
    with torch.no_grad():
        return model.chunk_scores(users[u], items.fused.unsqueeze(0)).sum(-1)[0]


def test_chunk_names():
    assert chunk_names(['price', 'brand'], 3) == ['price', 'brand', 'others']
    assert chunk_names(['price'], 3) == ['price', 'others_1', 'others_2']


def test_terms_sum_to_the_models_score(explainer):
    ex = explainer
    user = _some_users(ex, 1)[0]
    lists = recommend(ex, user, k=5, exclude_seen=False)
    u = ex.user_index(user)
    full = _model_scores(ex.model, ex.data, ex.meta, u)
    for r in lists[user]:
        i = int(ex.item_index(r.item))
        assert r.score == pytest.approx(sum(r.terms.values()), rel=1e-5)
        assert r.score == pytest.approx(float(full[i]), rel=1e-5)
        e = explain(ex, user, r.item)
        assert e.score == pytest.approx(float(full[i]), rel=1e-5)
        assert e.terms == pytest.approx(r.terms, rel=1e-5)
    # without control and seen items the list is the evaluator's ranking
    assert [int(ex.item_index(r.item)) for r in lists[user]] == full.topk(5).indices.tolist()


def test_explanation_content(explainer):
    ex = explainer
    user, item = ex.meta['users'][3], ex.meta['items'][7]
    e = explain(ex, user, item)
    assert list(e.terms) == ex.attribute_names + ['others']
    # the lift is the term minus the user's mean term over all items; it picks the top attribute
    mean = ex.terms(ex.user_index(user))[0].mean(0)
    assert list(e.lift.values()) == pytest.approx((torch.tensor(list(e.terms.values()))
                                                   - mean).tolist(), abs=1e-5)
    assert e.top_attribute == max(ex.attribute_names, key=e.lift.get)
    attr = ex.data['item'].attr[7]
    for a, spec in enumerate(ex.meta['attributes']):
        assert e.values[spec['name']] == spec['values'][int(attr[a])]
    for name, w in e.modality_weights.items():
        assert set(w) == {'id', 'text', 'image'}
        assert sum(w.values()) == pytest.approx(1.0, abs=1e-5)
    if not bool(ex.data['item'].has_image[7]):
        assert all(w['image'] == 0 for w in e.modality_weights.values())
    json.dumps(e.to_dict())


def test_control_all_ones_is_the_plain_ranking(explainer):
    ex = explainer
    users = _some_users(ex)
    plain = recommend(ex, users, k=10)
    ones = recommend(ex, users, k=10, control={n: 1.0 for n in ex.chunk_names})
    for u in users:
        assert [r.item for r in plain[u]] == [r.item for r in ones[u]]


def test_control_scores_follow_eq14(explainer):
    ex = explainer
    user = _some_users(ex, 1)[0]
    control = {'price': 2.0, 'popularity': 0.0, 'brand': -1.0}
    recs = recommend(ex, user, k=20, control=control)[user]
    for r in recs:
        expected = sum(control.get(n, 1.0) * t for n, t in r.terms.items())
        assert r.score == pytest.approx(expected, rel=1e-5, abs=1e-6)
    assert [r.score for r in recs] == sorted((r.score for r in recs), reverse=True)
    # popularity switched off: its term cannot change the order of two items with equal others
    zero = recommend(ex, user, k=20, control={'popularity': 0.0})[user]
    assert all(r.score == pytest.approx(sum(t for n, t in r.terms.items() if n != 'popularity'),
                                        rel=1e-5) for r in zero)


def test_exclude_seen_masks_training_and_validation_items(explainer):
    ex = explainer
    store = ex.data[INTERACTS]
    users = _some_users(ex, 20)
    lists = recommend(ex, users, k=50)
    for user in users:
        u = int(ex.user_index(user))
        mine = store.edge_index[0] == u
        seen = set(store.edge_index[1, mine & ((store.split == TRAIN) | (store.split == VALID))]
                   .tolist())
        got = {int(ex.item_index(r.item)) for r in lists[user]}
        assert not got & seen
    with_seen = recommend(ex, users[:1], k=ex.num_items, exclude_seen=False)[users[0]]
    assert len(with_seen) == ex.num_items


def test_user_errors(explainer):
    ex = explainer
    with pytest.raises(ConfigError, match="unknown user id 'nobody'"):
        recommend(ex, ['nobody'])
    with pytest.raises(ConfigError, match="unknown item id 'B-none'"):
        explain(ex, ex.meta['users'][0], 'B-none')
    with pytest.raises(ConfigError, match="'colour'"):
        recommend(ex, ex.meta['users'][0], control={'colour': 2.0})
    with pytest.raises(ConfigError, match='number of items'):
        recommend(ex, ex.meta['users'][0], k=ex.num_items + 1)
    with pytest.raises(ConfigError, match='data= and meta='):
        recommend(ex.model, ex.meta['users'][0])


def test_model_with_graph_gives_the_same_list(explainer):
    ex = explainer
    user = ex.meta['users'][0]
    a = recommend(ex.model, user, k=5, data=ex.data, meta=ex.meta)[user]
    assert [r.item for r in a] == [r.item for r in recommend(ex, user, k=5)[user]]


def _cli(*args):
    env = dict(os.environ, PYTHONWARNINGS='ignore')
    return subprocess.run([sys.executable, '-m', 'addrl_graph', '--quiet', *args],
                          capture_output=True, text=True, env=env, timeout=300)


def test_cli_recommend_json_and_unknown_user(explainer, addrl_run):
    user = explainer.meta['users'][0]
    out = _cli('recommend', '--run', str(addrl_run), '--user', user, '-k', '4',
               '--control', 'price=2,popularity=0', '--json')
    assert out.returncode == 0, out.stderr
    recs = json.loads(out.stdout)[user]
    api = recommend(explainer, user, k=4, control={'price': 2, 'popularity': 0})[user]
    assert [r['item'] for r in recs] == [r.item for r in api]
    assert recs[0]['score'] == pytest.approx(api[0].score, rel=1e-5)
    bad = _cli('explain', '--run', str(addrl_run), '--user', 'NOT-A-USER', '--item',
               explainer.meta['items'][0])
    assert bad.returncode == 2
    assert "error: unknown user id 'NOT-A-USER'" in bad.stderr
    assert 'Traceback' not in bad.stderr


def test_cli_in_process(explainer, addrl_run, capsys, tmp_path):
    from addrl_graph.cli.commands import main
    user, item = explainer.meta['users'][1], explainer.meta['items'][2]
    assert main(['--quiet', 'explain', '--run', str(addrl_run), '--user', user, '--item', item,
                 '--json']) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown['score'] == pytest.approx(explain(explainer, user, item).score, rel=1e-5)
    png = tmp_path / 'study.png'
    assert main(['--quiet', 'control-study', '--run', str(addrl_run), '--attribute', 'price',
                 '--num-users', '30', '--out', str(png), '--json']) == 0
    study = json.loads(capsys.readouterr().out)
    assert study['xis'] == [2.0, 1.0, 0.5, 0.0, -1.0] and png.stat().st_size > 10_000
    assert main(['--quiet', 'recommend', '--run', str(addrl_run), '--user', user,
                 '--control', 'price']) == 2
    assert 'attribute=xi' in capsys.readouterr().err


@pytest.mark.parametrize('encoder', ['embedding', 'lightgcn', 'gcn', 'sage'])
def test_every_id_encoder_explains_and_controls(tiny_graph, encoder, one_thread):
    data, meta = tiny_graph
    torch.manual_seed(0)
    model = ADDRL.from_graph(TrainGraph.from_data(data, meta),
                             ModelConfig(id_encoder=encoder, d_chunk=8)).eval()
    user = meta['users'][2]
    u = torch.tensor([2])
    # the explainer ranks with the encoder's propagated ID chunks, as the evaluator does
    full = _model_scores(model, data, meta, u)
    recs = recommend(model, user, k=5, exclude_seen=False, data=data, meta=meta)[user]
    assert [meta['items'].index(r.item) for r in recs] == full.topk(5).indices.tolist()
    control = {'price': 2.0, 'brand': -1.0}
    for r in recommend(model, user, k=5, control=control, data=data, meta=meta)[user]:
        expected = sum(control.get(n, 1.0) * t for n, t in r.terms.items())
        assert r.score == pytest.approx(expected, rel=1e-5, abs=1e-6)
    e = explain(model, user, recs[0].item, data=data, meta=meta)
    assert e.score == pytest.approx(float(full[meta['items'].index(recs[0].item)]), rel=1e-5)
    assert e.top_attribute == max(['price', 'brand'], key=e.lift.get)
    shares = value_shares(Explainer(model, data, meta), torch.arange(4), 'brand', k=3)
    assert torch.allclose(shares.sum(-1), torch.ones(shares.shape[:2]))
