"""Sparse (lazy Adam) updates of the ID tables: only the batch's rows move, runs resume."""
import pytest
import torch

from addrl_graph.data.train_graph import TrainGraph
from addrl_graph.nn.config import ModelConfig
from addrl_graph.errors import ConfigError
from addrl_graph.loader.link_loader import make_train_loader
from addrl_graph.nn.model import ADDRL
from addrl_graph.training.optim import LazyAdam, make_optimizer
from addrl_graph.testing import PAPER_MODEL
from addrl_graph.training.train import TrainConfig, train

#: The paper's architecture (ID embeddings, one free chunk), which these tests check.
PAPER = PAPER_MODEL


def test_only_the_batch_rows_move(tiny_graph, one_thread):
    data, meta = tiny_graph
    graph = TrainGraph.from_data(data, meta)
    torch.manual_seed(0)
    model = ADDRL.from_graph(graph, ModelConfig(**PAPER, d_chunk=8))
    optimizer = make_optimizer(model, 1e-2, sparse_embeddings=True)
    assert isinstance(optimizer, LazyAdam)
    batch = next(iter(make_train_loader(data, batch_size=3, num_neg=2)))
    users = model.id_encoder.user_embedding
    before = users.weight.detach().clone()
    loss, _ = model(batch, graph)
    optimizer.zero_grad()
    loss.backward()
    assert users.weight.grad.is_sparse
    assert not model.views.text_proj.weight.grad.is_sparse
    optimizer.step()
    moved = (users.weight.detach() != before).any(1)
    assert set(moved.nonzero().view(-1).tolist()) == set(batch.user_id.tolist())


def _graph_dir(tmp_path, tiny_graph):
    from addrl_graph.data.schema import save_graph
    data, meta = tiny_graph
    save_graph(tmp_path / 'graph', data, dict(meta))
    return tmp_path / 'graph'


def test_sparse_run_trains_and_its_optimizer_state_reloads(tmp_path, tiny_graph, one_thread):
    from addrl_graph.training.runs import load_checkpoint
    graph = _graph_dir(tmp_path, tiny_graph)
    config = TrainConfig(epochs=3, lr=1e-2, batch_size=8, sparse_embeddings=True)
    results = train(graph, tmp_path / 'run', config, ModelConfig(**PAPER, d_chunk=8),
                    progress=False)
    assert results['test']['recall@20'] >= 0
    state, _ = load_checkpoint(tmp_path / 'run', 'last')
    model = ADDRL.from_graph(TrainGraph.from_data(*tiny_graph), ModelConfig(**PAPER, d_chunk=8))
    optimizer = make_optimizer(model, 1e-2, True)
    optimizer.load_state_dict(state['optimizer'])
    steps = optimizer.sparse.state_dict()['state'][0]['step']
    assert int(steps) == 3 * -(-len(tiny_graph[0]['user', 'interacts', 'item'].split
                                    .eq(0).nonzero()) // 8)


def test_sparse_embeddings_refused_where_tables_are_dense(tmp_path, tiny_graph):
    graph = _graph_dir(tmp_path, tiny_graph)
    sparse = TrainConfig(epochs=1, sparse_embeddings=True)
    with pytest.raises(ConfigError, match='full-graph propagation'):
        train(graph, tmp_path / 'a', sparse, ModelConfig(id_encoder='lightgcn'), progress=False)
    with pytest.raises(ConfigError, match="model='bpr-mf'"):
        train(graph, tmp_path / 'b', TrainConfig(model='bpr-mf', sparse_embeddings=True),
              progress=False)
    # sampled neighbourhoods read the tables by row again
    train(graph, tmp_path / 'c', TrainConfig(epochs=1, batch_size=8, sparse_embeddings=True,
                                             num_neighbors=[3, 3]),
          ModelConfig(id_encoder='lightgcn', encoder_layers=2, d_chunk=8), progress=False)
    dense = torch.optim.Adam([torch.nn.Parameter(torch.zeros(2))]).state_dict()
    model = ADDRL.from_graph(TrainGraph.from_data(*tiny_graph), ModelConfig(**PAPER, d_chunk=8))
    with pytest.raises(ConfigError, match='dense Adam state'):
        make_optimizer(model, 1e-2, True).load_state_dict(dense)
