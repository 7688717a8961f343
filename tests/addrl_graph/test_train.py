"""Training harness on the synthetic small preset: learning, resume, commands."""
import json
import subprocess
import sys

import pytest

from addrl_graph.nn.config import ModelConfig
from addrl_graph.data.schema import load_graph
from addrl_graph.explain.diagnostics import intra_accuracy
from addrl_graph.testing import save_tiny_graph
from addrl_graph.errors import CheckpointError, ConfigError
from addrl_graph.training.runs import load_run_model
from addrl_graph.training.train import TrainConfig, train
from tests.conftest import SMALL_PRESET_MODEL


def test_addrl_beats_bpr_mf_and_disentangles(small_graph_dir, tmp_path):
    """Issue 3: same budget (50 epochs, lr 1e-2) → AD-DRL's validation Recall@20 beats
    BPR-MF's, and every intra classifier tells the chunks apart (accuracy ≥ 0.95)."""
    budget = dict(epochs=50, lr=1e-2, patience=50)
    addrl = train(small_graph_dir, tmp_path / 'addrl', TrainConfig(**budget),
                  ModelConfig(**SMALL_PRESET_MODEL), progress=False)
    bpr = train(small_graph_dir, tmp_path / 'bpr', TrainConfig(model='bpr-mf', **budget),
                progress=False)
    assert addrl['valid']['recall@20'] > bpr['valid']['recall@20']
    data, meta = load_graph(small_graph_dir)
    model, _ = load_run_model(tmp_path / 'addrl', data=data, meta=meta)
    accuracy = intra_accuracy(model, data)
    assert set(accuracy) == {'user', 'id', 'text', 'image'}
    assert min(accuracy.values()) >= 0.95, accuracy
    rows = [json.loads(l) for l in (tmp_path / 'addrl' / 'metrics.jsonl').read_text().split('\n')
            if l]
    assert len(rows) == 50 and rows[-1]['loss'] < rows[0]['loss']
    assert {'loss_bpr', 'loss_intra', 'loss_inter', 'loss_low', 'valid_recall@20'} <= set(rows[0])


def test_resume_reaches_the_same_result(small_graph_dir, tmp_path):
    config = TrainConfig(epochs=4, lr=1e-2, patience=10)
    full = train(small_graph_dir, tmp_path / 'full', config, progress=False)
    train(small_graph_dir, tmp_path / 'cut', TrainConfig(epochs=2, lr=1e-2, patience=10),
          progress=False)
    # continue the 2-epoch run up to 4 epochs: --resume may extend the epoch limit
    resumed = train(small_graph_dir, tmp_path / 'cut', config, resume=True, progress=False)
    assert resumed['epochs_run'] == 4
    assert resumed['test'] == pytest.approx(full['test'], rel=1e-5, abs=1e-6)


def test_existing_run_needs_resume_and_matching_config(small_graph_dir, tmp_path):
    train(small_graph_dir, tmp_path / 'run', TrainConfig(epochs=1), progress=False)
    with pytest.raises(ConfigError, match='--resume'):
        train(small_graph_dir, tmp_path / 'run', TrainConfig(epochs=1), progress=False)
    with pytest.raises(CheckpointError, match='model.d_chunk: checkpoint 64, now 16'):
        train(small_graph_dir, tmp_path / 'run', TrainConfig(epochs=1),
              ModelConfig(d_chunk=16), resume=True, progress=False)


def test_a_config_edited_after_training_is_refused(small_graph_dir, tmp_path):
    train(small_graph_dir, tmp_path / 'run', TrainConfig(epochs=1), progress=False)
    config = json.loads((tmp_path / 'run' / 'config.json').read_text())
    config['model']['d_chunk'] = 16
    (tmp_path / 'run' / 'config.json').write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match='another run than its config.json: model.d_chunk'):
        load_run_model(tmp_path / 'run')


def test_commands_train_and_evaluate(small_graph_dir, tmp_path):
    run = tmp_path / 'run'
    out = subprocess.run([sys.executable, '-m', 'addrl_graph', '--quiet', 'train', '--data',
                          str(small_graph_dir), '--out', str(run), '--epochs', '2',
                          '--ablation', 'no-inter', '--alpha', '2.5'],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result['epochs_run'] == 2 and 0 <= result['test']['recall@20'] <= 1
    saved = json.loads((run / 'config.json').read_text())
    assert saved['model']['alpha'] == 2.5 and saved['model']['use_inter'] is False
    ev = subprocess.run([sys.executable, '-m', 'addrl_graph', '--quiet', 'evaluate', '--run',
                         str(run), '--split', 'test', '--authors-ndcg'],
                        capture_output=True, text=True)
    assert ev.returncode == 0, ev.stderr
    metrics = json.loads(ev.stdout)
    assert metrics['recall@20'] == pytest.approx(result['test']['recall@20'], abs=1e-6)
    assert metrics['authors_ndcg@20'] >= metrics['ndcg@20']
    bad = subprocess.run([sys.executable, '-m', 'addrl_graph', 'train', '--data',
                          str(small_graph_dir), '--out', str(tmp_path / 'x'), '--lr', '-1'],
                         capture_output=True, text=True)
    assert bad.returncode == 2 and '--lr' in bad.stderr and 'Traceback' not in bad.stderr


def test_checkpoint_of_another_graph_is_refused(small_graph_dir, tmp_path):
    """A run trained on one graph does not load against another (other attributes, counts)."""
    save_tiny_graph(tmp_path / 'gift', attributes={'price': 3, 'popularity': 2, 'brand': 4})
    train(small_graph_dir, tmp_path / 'run', TrainConfig(epochs=1), progress=False)
    # the gift graph lacks 'category': the message names both attribute lists
    with pytest.raises(CheckpointError, match=r"attributes \['price', 'popularity', 'brand', "
                                              r"'category'\].*\['price', 'popularity', 'brand'\]"):
        load_run_model(tmp_path / 'run', data_dir=tmp_path / 'gift')


def test_checkpoint_for_other_node_counts_names_the_parameter(small_graph_dir, tmp_path):
    _, small_meta = load_graph(small_graph_dir)
    save_tiny_graph(tmp_path / 'g7', attributes=small_meta['attributes'])   # 12 users, not 600
    train(small_graph_dir, tmp_path / 'run', TrainConfig(epochs=1), progress=False)
    # default model: K = 4 attributes + 1 free chunk, of 64 each
    with pytest.raises(CheckpointError,
                       match=r'id_encoder\.user_embedding\.weight has shape \(600, 320\)'):
        load_run_model(tmp_path / 'run', data_dir=tmp_path / 'g7')
