"""recommend / explain show titles and attribute values next to ids (real Gift Cards 2018
graph, one training epoch), and a graph without titles still works."""
import json

import pytest

from addrl_graph.cli.commands import main
from addrl_graph.data.catalog import cut
from addrl_graph.explain.explainer import Explainer, explain, recommend
from addrl_graph.testing import save_tiny_graph
from addrl_graph.training.config import TrainConfig
from addrl_graph.training.train import train
from tests.conftest import SHARED_DATA

GIFT = SHARED_DATA / 'amazon-2018-gift-cards'


def _train(graph, run):
    from addrl_graph.nn.config import ModelConfig
    train(graph, run, TrainConfig(epochs=1, patience=1, batch_size=4096),
          ModelConfig(d_chunk=4), progress=False)
    return run


@pytest.fixture(scope='module')
def gift_run(tmp_path_factory):
    from data_builders.build import BuildConfig, build
    root = tmp_path_factory.mktemp('gift_titles')
    build(BuildConfig(format='2018', reviews=GIFT / 'Gift_Cards_5.json.gz',
                      meta=GIFT / 'meta_Gift_Cards.json.gz', out=root / 'graph',
                      text_encoder='none', image_encoder='none', progress=False))
    return _train(root / 'graph', root / 'run')


def test_api_carries_titles_and_values(gift_run, one_thread):
    ex = Explainer.from_run(gift_run)
    user = ex.meta['users'][0]
    recs = recommend(ex, user, k=5)[user]
    for r in recs:
        i = ex.meta['items'].index(r.item)
        assert r.title == ex.meta['item_titles'][i] and r.title
        assert set(r.values) == set(ex.attribute_names)
        assert r.values['brand'] == ex.meta['attributes'][2]['values'][
            int(ex.data['item'].attr[i, 2])]
        assert r.to_dict()['title'] == r.title
    e = explain(ex, user, recs[0].item)
    assert e.title == recs[0].title and e.values == recs[0].values


def test_cli_prints_titles_next_to_ids(gift_run, capsys, one_thread):
    ex = Explainer.from_run(gift_run)
    user = ex.meta['users'][3]
    assert main(['--quiet', 'recommend', '--run', str(gift_run), '--user', user, '-k', '3']) == 0
    out = capsys.readouterr().out
    for r in recommend(ex, user, k=3)[user]:
        assert f'{r.item}  score {r.score:8.4f}  {cut(r.title, 60)}' in out
        assert f"brand = {r.values['brand']}" in out and f"price = {r.values['price']}" in out
    item = ex.meta['items'][5]
    assert main(['--quiet', 'explain', '--run', str(gift_run), '--user', user,
                 '--item', item]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"user {user}, item {item}  {cut(ex.meta['item_titles'][5], 60)}\n")
    assert main(['--quiet', 'explain', '--run', str(gift_run), '--user', user,
                 '--item', item, '--json']) == 0
    assert json.loads(capsys.readouterr().out)['title'] == ex.meta['item_titles'][5]


def test_graph_without_titles_still_recommends(tmp_path, capsys, one_thread):
    run = _train(save_tiny_graph(tmp_path / 'graph'), tmp_path / 'run')
    assert main(['--quiet', 'recommend', '--run', str(run), '--user', 'U1', '-k', '2',
                 '--json']) == 0
    recs = json.loads(capsys.readouterr().out)['U1']
    assert len(recs) == 2 and all(r['title'] is None and r['values'] for r in recs)
    assert main(['--quiet', 'recommend', '--run', str(run), '--user', 'U1', '-k', '2']) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].endswith(f"score {recs[0]['score']:8.4f}")     # the id, no title after it
    assert main(['--quiet', 'explain', '--run', str(run), '--user', 'U1',
                 '--item', recs[0]['item']]) == 0
    assert capsys.readouterr().out.startswith(f"user U1, item {recs[0]['item']}\n")


def test_report_tables_escape_bars_in_titles():
    from addrl_graph.explain.report import to_markdown
    md = to_markdown([('table', ['rank', 'title'], [['1', 'Gift Card | Holiday Tin']])])
    assert md.splitlines()[2] == r'| 1 | Gift Card \| Holiday Tin |'
