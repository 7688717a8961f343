"""save_pretrained / from_pretrained (addrl_graph.nn.pretrained) and ``export-model``: a trained
model leaves its run folder and scores every user and item as before; a folder that is
incomplete, corrupted or of another model is refused in one line."""
import json
import re
import shutil
from pathlib import Path

import pytest
import torch

from addrl_graph.cli import main as addrl_main
from addrl_graph.data.schema import load_graph
from addrl_graph.data.train_graph import TrainGraph
from addrl_graph.errors import CheckpointError, ConfigError
from addrl_graph.nn.pretrained import Pretrained
from addrl_graph.nn.registry import MODEL_DEFAULTS, MODEL_NAMES, build_model
from addrl_graph.testing import save_tiny_graph
from addrl_graph.training.runs import load_run_model
from addrl_graph.training.train import TrainConfig, train


@pytest.fixture(scope='module')
def world(tmp_path_factory):
    """A tiny graph and two one-epoch runs on it (AD-DRL and FREEDOM, a baseline with
    options, feature projections and a non-persistent buffer)."""
    root = tmp_path_factory.mktemp('pretrained')
    graph_dir = save_tiny_graph(root / 'graph', num_users=20, num_items=30)
    for name in ('addrl', 'freedom'):
        train(graph_dir, root / name, TrainConfig(model=name, epochs=1), progress=False)
    data, meta = load_graph(graph_dir)
    return root, data, meta, TrainGraph.from_data(data, meta)


def all_scores(model, graph):
    """``[U, I]`` scores of every user and item."""
    return model.tables(graph).scores(torch.arange(graph.num_users))


@pytest.mark.parametrize('name', ['addrl', 'freedom'])
def test_export_model_scores_like_the_run(world, name, capsys):
    root, data, meta, graph = world
    out = root / f'{name}-export'
    assert addrl_main(['export-model', '--run', str(root / name), '--out', str(out)]) == 0
    assert f'wrote {out}' in capsys.readouterr().out
    assert sorted(p.name for p in out.iterdir()) == ['config.json', 'id_maps.json',
                                                    'model.safetensors']
    shutil.move(str(root / name), str(root / f'{name}-moved'))  # the run is not needed
    try:
        pretrained = Pretrained.from_pretrained(out, map_location='cpu')
        run_model, _ = load_run_model(root / f'{name}-moved', data=data, meta=meta, graph=graph)
    finally:
        shutil.move(str(root / f'{name}-moved'), str(root / name))
    assert pretrained.name == name and not pretrained.model.training
    assert pretrained.id_maps.users == meta['users'] and pretrained.id_maps.items == meta['items']
    assert list(pretrained.id_maps.attributes) == [a['name'] for a in meta['attributes']]
    pretrained.check_graph(meta)
    expected = all_scores(run_model, graph)
    assert expected.shape == (20, 30)
    torch.testing.assert_close(all_scores(pretrained.model, graph), expected, rtol=0, atol=1e-6)


@pytest.mark.parametrize('name', MODEL_NAMES)
def test_every_registered_model_round_trips(world, name, tmp_path):
    _, _, meta, graph = world
    options = MODEL_DEFAULTS[name].get('baseline')
    torch.manual_seed(3)
    model = build_model(name, graph, baseline_options=options).eval()
    Pretrained.from_model(model, graph, meta, options).save_pretrained(tmp_path / 'm')
    loaded = Pretrained.from_pretrained(tmp_path / 'm').model
    state = loaded.state_dict()
    assert state.keys() == model.state_dict().keys()
    assert all(torch.equal(state[k], v) for k, v in model.state_dict().items())
    torch.testing.assert_close(all_scores(loaded, graph), all_scores(model, graph),
                               rtol=0, atol=1e-6)


def test_a_baseline_needs_the_options_it_was_built_with(world):
    _, _, meta, graph = world
    model = build_model('bpr-mf', graph, baseline_options={'embedding_dim': 16})
    with pytest.raises(ConfigError, match='needs the options bpr-mf was built with'):
        Pretrained.from_model(model, graph, meta)
    with pytest.raises(ConfigError, match=r'user_embedding.weight has shape \(20, 16\) but .* '
                                          r'needs \(20, 8\)'):
        Pretrained.from_model(model, graph, meta, {'embedding_dim': 8})


@pytest.fixture
def saved(world, tmp_path):
    root, _, meta, graph = world
    model, _ = load_run_model(root / 'addrl', graph=graph, data=world[1], meta=meta)
    return Pretrained.from_model(model, graph, meta).save_pretrained(tmp_path / 'addrl')


def edit_config(folder, **changes):
    config = json.loads((folder / 'config.json').read_text())
    config.update(changes)
    (folder / 'config.json').write_text(json.dumps(config))
    return config


def test_a_missing_or_foreign_folder_is_refused(world, saved, tmp_path):
    with pytest.raises(CheckpointError, match='config.json not found: is .* a folder written by '
                                              'save_pretrained'):
        Pretrained.from_pretrained(tmp_path / 'nothing')
    with pytest.raises(CheckpointError, match='is not a pretrained addrl-graph model .*training '
                                              'run folder: export it with'):
        Pretrained.from_pretrained(world[0] / 'addrl')
    (saved / 'model.safetensors').unlink()
    with pytest.raises(CheckpointError, match='model.safetensors not found: the folder is '
                                              'incomplete'):
        Pretrained.from_pretrained(saved)


def test_a_corrupted_file_fails_its_checksum(saved):
    weights = bytearray((saved / 'model.safetensors').read_bytes())
    weights[-1] ^= 0xFF
    (saved / 'model.safetensors').write_bytes(bytes(weights))
    with pytest.raises(CheckpointError, match='model.safetensors does not match the checksum'):
        Pretrained.from_pretrained(saved)


def test_a_config_of_another_model_or_shape_is_refused(saved):
    edit_config(saved, model='bpr-mf', model_config={'embedding_dim': 64})
    with pytest.raises(CheckpointError, match='model.safetensors holds a addrl model but '
                                              'config.json describes bpr-mf'):
        Pretrained.from_pretrained(saved)
    config = edit_config(saved, model='addrl', model_config={'d_chunk': 32})
    with pytest.raises(CheckpointError, match=r'parameter id_encoder.user_embedding.weight has '
                                              r'shape \(20, 192\) but the model its config '
                                              r'describes needs \(20, 96\)'):
        Pretrained.from_pretrained(saved)
    edit_config(saved, model_config={'no_such_option': 1})
    with pytest.raises(CheckpointError, match='model_config does not build addrl'):
        Pretrained.from_pretrained(saved)
    edit_config(saved, model_config=config['model_config'],
                sizes=dict(config['sizes'], num_users=21))
    with pytest.raises(CheckpointError, match='id_maps.json: its ids do not fit the model'):
        Pretrained.from_pretrained(saved)


def test_scoring_another_graph_needs_the_same_ids(world, saved, tmp_path):
    pretrained = Pretrained.from_pretrained(saved)
    _, other = load_graph(save_tiny_graph(tmp_path / 'other', num_users=20, num_items=30, seed=1))
    assert other['users'] == world[2]['users']  # same ids, another graph
    with pytest.raises(CheckpointError, match='is not the one the addrl model was trained on'):
        pretrained.check_graph(other)
    pretrained.check_graph(other, same_graph=False)
    _, fewer = load_graph(save_tiny_graph(tmp_path / 'fewer', num_users=19, num_items=30))
    with pytest.raises(CheckpointError, match='has other users than the graph'):
        pretrained.check_graph(fewer, same_graph=False)


def test_the_readme_example_runs(tmp_path):
    """The README's save_pretrained block, after its training example (one epoch)."""
    blocks = re.findall(r'```python\n(.*?)```',
                        (Path(__file__).resolve().parents[2] / 'README.md').read_text(), re.S)
    train_example = next(b for b in blocks if 'model(batch, graph)' in b)
    example = next(b for b in blocks if 'save_pretrained(' in b)
    graph_dir = save_tiny_graph(tmp_path / 'graph', num_users=20, num_items=30)
    names = {}
    exec(train_example.replace("'graphs/beauty'", repr(str(graph_dir)))
         .replace('range(10)', 'range(1)'), names)
    exec(example.replace("'addrl-beauty'", repr(str(tmp_path / 'pretrained'))), names)
    assert names['best_item'] in names['meta']['items']
    assert names['scores'].shape == (20, 30)


def test_export_model_errors_are_one_line(world, tmp_path, capsys):
    assert addrl_main(['export-model', '--run', str(tmp_path / 'none'),
                       '--out', str(tmp_path / 'out')]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith('error: ') and 'config.json not found' in err and '\n' not in err
    assert addrl_main(['export-model', '--run', str(world[0] / 'addrl'), '--out',
                       str(tmp_path / 'out'), '--checkpoint', 'last']) == 0
    (tmp_path / 'file').write_text('')
    assert addrl_main(['export-model', '--run', str(world[0] / 'addrl'),
                       '--out', str(tmp_path / 'file')]) == 2
    assert 'is a file, not a folder' in capsys.readouterr().err


def test_model_methods_save_and_load_their_own_class(world, tmp_path):
    """``ADDRL(...).save_pretrained(dir, graph, meta)`` / ``ADDRL.from_pretrained(dir)``: the
    methods the issue names; another class's folder is refused."""
    from addrl_graph.nn.model import ADDRL
    from addrl_graph.nn.baselines.bpr_mf import BPRMF

    root, data, meta, graph = world
    model, _ = load_run_model(root / 'addrl', data=data, meta=meta, graph=graph)
    folder = model.save_pretrained(tmp_path / 'addrl', graph, meta)
    loaded = ADDRL.from_pretrained(folder)
    assert isinstance(loaded.model, ADDRL) and loaded.id_maps.items == meta['items']
    torch.testing.assert_close(all_scores(loaded.model, graph), all_scores(model, graph),
                               rtol=0, atol=1e-6)
    with pytest.raises(CheckpointError, match='saved from ADDRL, not BPRMF'):
        BPRMF.from_pretrained(folder)
