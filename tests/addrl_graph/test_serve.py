"""The HTTP service (issue 15): answers equal the Python explainer's, every 404 and 422 case
names what is wrong, the API key guards the data, checksums are verified at start, baselines
say they have no per-attribute terms, and the server refuses a public host without a key."""
import math
import shutil

import pytest

pytest.importorskip('fastapi')
from fastapi.testclient import TestClient  # noqa: E402

from addrl_graph.cli import main  # noqa: E402
from addrl_graph.errors import CheckpointError, ConfigError  # noqa: E402
from addrl_graph.explain.explainer import explain, recommend  # noqa: E402
from addrl_graph.serve.app import create_app  # noqa: E402
from addrl_graph.serve.server import is_loopback, resolve_api_key  # noqa: E402
from addrl_graph.serve.state import ServedRun, parse_control  # noqa: E402
from addrl_graph.testing import paper_config, save_tiny_graph  # noqa: E402

KEY = 'test-key-123456'


def train_tiny_run(root, model='addrl', epochs=3):
    """A run trained briefly on a tiny random graph (60 users, 40 items, price and brand)."""
    from addrl_graph.training.train import TrainConfig, train
    graph = root / 'graph'
    if not (graph / 'meta.json').is_file():
        save_tiny_graph(graph, num_users=60, num_items=40, per_user=10)
    run = root / model
    train(graph, run, TrainConfig(model=model, epochs=epochs, lr=1e-2, patience=epochs),
          paper_config(d_chunk=8), progress=False)
    return run


@pytest.fixture(scope='module')
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp('serve_runs')
    return {'addrl': train_tiny_run(root), 'bpr-mf': train_tiny_run(root, 'bpr-mf', 1)}


@pytest.fixture(scope='module')
def served(runs):
    return ServedRun(runs['addrl'])


@pytest.fixture(scope='module')
def client(served):
    return TestClient(create_app(served))


def test_health_and_attributes(client, served):
    health = client.get('/health').json()
    assert health['model'] == 'addrl' and health['checkpoints_verified'] == ['best', 'last']
    assert (health['num_users'], health['num_items']) == (60, 40)
    attrs = client.get('/attributes').json()
    assert [a['name'] for a in attrs['attributes']] == ['price', 'brand']
    assert attrs['chunks'] == ['price', 'brand', 'others'] and attrs['per_attribute_terms']
    assert attrs['attributes'][0]['values'] == ['low', 'high', 'unknown']


@pytest.mark.parametrize('control', [{}, {'price': -1.0}, {'price': 2.0, 'brand': 0.0}])
def test_recommendations_equal_the_explainer(client, served, control):
    user = served.users[3]
    text = ','.join(f'{name}:{xi:g}' for name, xi in control.items())
    got = client.get(f'/users/{user}/recommendations', params={'k': 10, 'control': text})
    assert got.status_code == 200
    items = got.json()['items']
    expected = recommend(served.explainer, user, 10, control)[user]
    assert [i['item'] for i in items] == [r.item for r in expected]
    for mine, ref in zip(items, expected):
        assert math.isclose(mine['score'], ref.score, rel_tol=1e-5, abs_tol=1e-6)
        assert mine['terms'] == pytest.approx(ref.terms, rel=1e-5)
        assert set(mine['values']) == {'price', 'brand'} and mine['label'] == mine['item']
    seen = {h['item'] for h in client.get(f'/users/{user}').json()['history']}
    assert seen and not seen & {i['item'] for i in items}


def test_lift_and_explanation_equal_the_explainer(client, served):
    user = served.users[5]
    top = client.get(f'/users/{user}/recommendations', params={'k': 3}).json()['items'][0]
    got = client.get(f'/users/{user}/explain/{top["item"]}').json()
    ref = explain(served.explainer, user, top['item'])
    assert got['score'] == pytest.approx(ref.score, rel=1e-5)
    assert got['terms'] == pytest.approx(ref.terms, rel=1e-5)
    assert got['lift'] == pytest.approx(ref.lift, rel=1e-4, abs=1e-6)
    assert top['lift'] == pytest.approx(ref.lift, rel=1e-4, abs=1e-6)
    assert got['top_attribute'] == ref.top_attribute and got['values'] == ref.values
    for name, weights in ref.modality_weights.items():
        assert got['modality_weights'][name] == pytest.approx(weights)


def test_batch_equals_single_requests(client, served):
    users = served.users[:4]
    body = {'users': users, 'k': 5, 'control': {'brand': 0.5}}
    batch = client.post('/recommendations', json=body).json()['results']
    for user, result in zip(users, batch):
        single = client.get(f'/users/{user}/recommendations',
                            params={'k': 5, 'control': 'brand:0.5'}).json()
        assert result == single


@pytest.mark.parametrize('path', ['/users/nobody', '/users/nobody/recommendations',
                                  '/users/nobody/explain/I000', '/users/U0/explain/NOPE'])
def test_unknown_ids_are_404_with_a_message(client, path):
    got = client.get(path)
    assert got.status_code == 404
    assert ('nobody' in got.json()['detail']) or ('NOPE' in got.json()['detail'])
    got = client.post('/recommendations', json={'users': ['U0', 'nobody']})
    assert got.status_code == 404 and "'nobody'" in got.json()['detail']


def _loc(response):
    assert response.status_code == 422, response.text
    return response.json()['detail'][0]['loc'][-1]


@pytest.mark.parametrize('params, parameter', [
    ({'control': 'colour:1'}, 'control'), ({'control': 'price:abc'}, 'control'),
    ({'control': 'price'}, 'control'), ({'control': ':2'}, 'control'),
    ({'control': 'price:3'}, 'control'), ({'control': 'price:-1.5'}, 'control'),
    ({'control': 'price:nan'}, 'control'), ({'control': 'price:inf'}, 'control'),
    ({'k': 0}, 'k'), ({'k': 101}, 'k'), ({'k': 41}, 'k'), ({'k': 'ten'}, 'k'),
    ({'exclude_seen': 'maybe'}, 'exclude_seen')])
def test_malformed_parameters_are_422_naming_them(client, params, parameter):
    assert _loc(client.get('/users/U0/recommendations', params=params)) == parameter


@pytest.mark.parametrize('body, parameter', [
    ({'users': []}, 'users'), ({'users': ['U0'] * 101}, 'users'),
    ({'users': ['U0'], 'k': 0}, 'k'), ({'users': ['U0'], 'k': 41}, 'k'),
    ({'users': ['U0'], 'control': {'price': 5}}, 'price'),
    ({'users': ['U0'], 'control': {'colour': 1}}, 'control'),
    ({'users': ['U0'], 'extra': 1}, 'extra')])
def test_malformed_batches_are_422_naming_the_parameter(client, body, parameter):
    assert _loc(client.post('/recommendations', json=body)) == parameter


def test_user_search_and_random_pick(client):
    found = client.get('/users', params={'q': 'U1'}).json()
    assert found['users'] and all('U1' in u for u in found['users'])
    assert found['total'] == sum('U1' in f'U{i}' for i in range(60))
    assert len(client.get('/users', params={'random': True, 'limit': 3}).json()['users']) == 3
    assert _loc(client.get('/users', params={'limit': 1000})) == 'limit'


def test_api_key_guards_the_data_endpoints(served):
    guarded = TestClient(create_app(served, api_key=KEY))
    assert guarded.get('/health').status_code == 200
    assert guarded.get('/').status_code == 200
    for headers in ({}, {'X-API-Key': 'wrong'}):
        got = guarded.get('/users/U0/recommendations', headers=headers)
        assert got.status_code == 401 and 'API key' in got.json()['detail']
        assert guarded.post('/recommendations', json={'users': ['U0']},
                            headers=headers).status_code == 401
    assert guarded.get('/attributes', headers={'X-API-Key': KEY}).status_code == 200


def test_public_host_needs_a_key(monkeypatch, runs, capsys):
    monkeypatch.delenv('ADDRL_API_KEY', raising=False)
    assert is_loopback('127.0.0.1') and is_loopback('localhost') and is_loopback('::1')
    assert not is_loopback('0.0.0.0') and not is_loopback('192.168.1.4')
    assert resolve_api_key('127.0.0.1', None) is None
    with pytest.raises(ConfigError, match='--api-key'):
        resolve_api_key('0.0.0.0', None)
    with pytest.raises(ConfigError, match='8 characters'):
        resolve_api_key('0.0.0.0', 'short')
    monkeypatch.setenv('ADDRL_API_KEY', KEY)
    assert resolve_api_key('0.0.0.0', None) == KEY
    monkeypatch.delenv('ADDRL_API_KEY')
    assert main(['serve', '--run', str(runs['addrl']), '--host', '0.0.0.0']) == 2
    assert capsys.readouterr().err.startswith('error: --host 0.0.0.0 is reachable')


def test_a_run_failing_its_checksums_is_refused(runs, tmp_path):
    run = shutil.copytree(runs['addrl'], tmp_path / 'run')
    weights = next(run.glob('last.*.pt'))
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match='checksum'):
        ServedRun(run)


def test_a_baseline_is_served_and_says_it_has_no_terms(runs):
    baseline = TestClient(create_app(ServedRun(runs['bpr-mf'])))
    result = baseline.get('/users/U2/recommendations', params={'k': 5}).json()
    assert not result['per_attribute_terms'] and 'no per-attribute terms' in result['note']
    assert len(result['items']) == 5 and all(i['terms'] is None for i in result['items'])
    why = baseline.get(f'/users/U2/explain/{result["items"][0]["item"]}').json()
    assert why['score'] == pytest.approx(result['items'][0]['score'], rel=1e-5)
    assert why['terms'] is None and why['note']
    assert _loc(baseline.get('/users/U2/recommendations',
                             params={'control': 'price:2'})) == 'control'


def test_page_and_static_files(client):
    page = client.get('/')
    assert page.status_code == 200 and '/static/app.js' in page.text
    assert client.get('/static/app.js').headers['content-type'].startswith('text/javascript')
    assert client.get('/static/../state.py').status_code == 404
    assert client.get('/static/nothing.js').status_code == 404
    docs = client.get('/docs')
    assert docs.status_code == 200 and '/static/swagger-ui-bundle.js' in docs.text
    assert 'cdn' not in docs.text.lower()
    assert client.get('/static/swagger-ui-bundle.js').status_code == 200
    assert client.get('/openapi.json').json()['paths'].keys() >= {
        '/users/{user_id}/recommendations', '/recommendations', '/health'}


def test_parse_control():
    assert parse_control('price:2, brand=0') == {'price': 2.0, 'brand': 0.0}
    assert parse_control('') == {} and parse_control(None) == {}


def test_a_list_longer_than_the_unseen_items_is_cut(client, served):
    user = served.users[0]
    seen = client.get(f'/users/{user}').json()['num_items']
    full = client.get(f'/users/{user}/recommendations', params={'k': 40}).json()['items']
    assert len(full) == 40 - seen and [i['rank'] for i in full] == list(range(1, 41 - seen))
    everything = client.get(f'/users/{user}/recommendations',
                            params={'k': 40, 'exclude_seen': False}).json()['items']
    assert len(everything) == 40
