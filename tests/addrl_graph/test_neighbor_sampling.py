"""Mini-batch training with neighbour sampling: the pure multi-hop sampler (fan-out, training
edges only, reproducibility), the sub-graph a batch carries, graph encoders on it (equal to the
full graph with every neighbour, unbiased with fewer, chunks apart), training on it, and the
checks of ``num_neighbors``."""
from __future__ import annotations

import json

import pytest
import torch
from torch_geometric.sampler import (
    EdgeSamplerInput,
    HeteroSamplerOutput,
    NegativeSampling,
    NeighborSampler,
)

from addrl_graph.loader.batch import SampledGraph
from addrl_graph.cli.config import parse
from addrl_graph.cli.commands import main
from addrl_graph.nn.config import ModelConfig
from addrl_graph.data.schema import INTERACTS, REV_INTERACTS, TRAIN, has_edge, split_edges
from addrl_graph.data.train_graph import TrainGraph
from addrl_graph.nn.encoders import ATTRIBUTE_ENCODERS, ChunkSizes, LightGCNEncoder
from addrl_graph.errors import ConfigError
from addrl_graph.metrics.evaluate import evaluate
from addrl_graph.loader.link_loader import make_train_loader, sampled_graph, train_graph
from addrl_graph.nn.model import ADDRL
from addrl_graph.loader.neighbors import NeighborIndex
from addrl_graph.loader.sampler import TripletSampler
from addrl_graph.training.config import TrainConfig, run_config
from addrl_graph.training.runs import config_differences
from addrl_graph.training.train import train
from addrl_graph import testing
from addrl_graph.testing import SMALL_PRESET_MODEL

pytestmark = pytest.mark.usefixtures('one_thread')
D = 4


@pytest.fixture(scope='module')
def sparse_graph():
    """``(HeteroData, meta)``: 150 users with 4 interactions each (2 for training) over 200
    items, two attributes; sparse enough that a few hops from a small batch stay a small
    sub-graph."""
    return testing.tiny_graph(num_users=150, num_items=200, per_user=4)


@pytest.fixture(scope='module')
def full_graph(sparse_graph) -> TrainGraph:
    """The whole training graph of :func:`sparse_graph`, which full-graph encoding reads."""
    return TrainGraph.from_data(*sparse_graph)


def first_batch(data, num_neighbors, name='lightgcn', seed=0, batch_size=4):
    loader = make_train_loader(data, batch_size=batch_size, num_neg=2, seed=seed,
                               backend='pure', num_neighbors=num_neighbors,
                               attribute_neighbors=name in ATTRIBUTE_ENCODERS)
    return next(iter(loader)).validate()


def random_model(graph: TrainGraph, name: str, **config) -> ADDRL:
    """An ADDRL with the ``name`` encoder whose parameters are all random (no zero bias)."""
    torch.manual_seed(0)
    config.setdefault('encoder_layers', 2)
    model = ADDRL.from_graph(graph, ModelConfig(d_chunk=D, id_encoder=name, **config))
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.1 * torch.randn_like(p))
    return model


# ---------------------------------------------------------------------- the sampler
def sample(data, num_neighbors, seed=0, num_edges=5):
    """One sampler output for the first ``num_edges`` training edges, with hop counts."""
    sampler = TripletSampler(train_graph(data), num_neighbors, seed=seed)
    edges = split_edges(data, TRAIN)[:, :num_edges]
    return sampler.sample_from_edges(EdgeSamplerInput(None, edges[0], edges[1],
                                                      input_type=INTERACTS),
                                     NegativeSampling('triplet', amount=2))


def relation_pairs(data) -> dict[tuple, set]:
    """Every (source, target) pair of every relation the sampler may use."""
    train = {tuple(e) for e in split_edges(data, TRAIN).t().tolist()}
    out = {INTERACTS: train, REV_INTERACTS: {(i, u) for u, i in train}}
    for col, name in enumerate(n for n in data.node_types if n not in ('user', 'item')):
        has = {(i, int(v)) for i, v in enumerate(data['item'].attr[:, col].tolist())}
        out[has_edge(name)] = has
        out[(name, f'rev_has_{name}', 'item')] = {(v, i) for i, v in has}
    return out


def test_fanout_training_edges_only_and_seeds_first(sparse_graph):
    data, _ = sparse_graph
    fanout = [3, 2]
    out = sample(data, fanout)
    pairs = relation_pairs(data)
    held_out = {tuple(e) for split in (1, 2) for e in split_edges(data, split).t().tolist()}
    index = NeighborIndex(train_graph(data))
    assert set(out.row) == set(pairs)
    for t in ('user', 'item'):  # the seeds first, sorted and unique, then new nodes
        seeds = out.node[t][:out.num_sampled_nodes[t][0]]
        assert torch.equal(seeds, seeds.unique())
        assert out.node[t].unique().numel() == out.node[t].numel()
        assert sum(out.num_sampled_nodes[t]) == out.node[t].numel()
    for edge_type in pairs:
        src_type, _, dst_type = edge_type
        src = out.node[src_type][out.row[edge_type]]
        dst = out.node[dst_type][out.col[edge_type]]
        sampled = list(zip(src.tolist(), dst.tolist()))
        assert set(sampled) <= pairs[edge_type] and len(set(sampled)) == len(sampled)
        if edge_type == INTERACTS:
            assert not set(sampled) & held_out
        # per target: exactly min(fan-out of its hop, degree); the last hop's nodes draw none
        bounds = torch.tensor(out.num_sampled_nodes[dst_type]).cumsum(0).tolist()
        count = torch.bincount(out.col[edge_type], minlength=out.node[dst_type].numel())
        degree = index.colptr[edge_type].diff()[out.node[dst_type]]
        for hop, (lo, hi) in enumerate(zip([0] + bounds[:-1], bounds)):
            expected = degree[lo:hi].clamp(max=fanout[hop]) if hop < len(fanout) else 0
            assert torch.equal(count[lo:hi], torch.zeros_like(count[lo:hi]) + expected)
    assert out.num_sampled_nodes['user'][1] > 0 and out.num_sampled_nodes['brand'][1] > 0


def test_sampling_is_reproducible_and_seed_only_is_unchanged(sparse_graph):
    data, _ = sparse_graph

    def graphs(seed, num_neighbors=(3, 2)):
        return [b.graph for b in make_train_loader(data, batch_size=64, num_neg=2, seed=seed,
                                                   backend='pure',
                                                   num_neighbors=list(num_neighbors))]

    def same(a: SampledGraph, b: SampledGraph) -> bool:
        return (a.node.keys() == b.node.keys() and a.edge_index.keys() == b.edge_index.keys()
                and all(torch.equal(a.node[t], b.node[t]) for t in a.node)
                and all(torch.equal(a.edge_index[r], b.edge_index[r]) for r in a.edge_index))
    first, again, other = graphs(3), graphs(3), graphs(4)
    assert all(same(a, b) for a, b in zip(first, again))
    assert not all(same(a, b) for a, b in zip(first, other))
    for seed_only in (None, [], [0]):  # no sub-graph, and the very same triplets
        batches = list(make_train_loader(data, batch_size=64, num_neg=2, seed=3,
                                         backend='pure', num_neighbors=seed_only))
        for batch, graph in zip(batches, first):
            assert batch.graph is None
            assert torch.equal(batch.item_id, graph.seeds('item'))
            assert torch.equal(batch.user_id.unique(), graph.seeds('user'))


def test_sampled_graph_puts_repaired_seeds_first():
    """PyG's blind negatives are repaired after sampling: the new seed joins without edges and
    the edges keep their global endpoints."""
    out = HeteroSamplerOutput(
        node={'user': torch.tensor([7, 2]), 'item': torch.tensor([5, 1, 9])},
        row={INTERACTS: torch.tensor([0, 1]), REV_INTERACTS: torch.tensor([2])},
        col={INTERACTS: torch.tensor([1, 2]), REV_INTERACTS: torch.tensor([0])}, edge={})
    graph = sampled_graph(out, {'user': torch.tensor([2, 7]), 'item': torch.tensor([1, 3, 5])})
    assert graph.node['item'].tolist() == [1, 3, 5, 9] and graph.num_seeds['item'] == 3
    assert graph.node['user'].tolist() == [2, 7]
    for edge_type, (src, dst) in {INTERACTS: ([7, 2], [1, 9]), REV_INTERACTS: ([9], [7])}.items():
        local = graph.edges(edge_type)
        assert graph.node[edge_type[0]][local[0]].tolist() == src
        assert graph.node[edge_type[2]][local[1]].tolist() == dst
    assert graph.locate('item', torch.tensor([5, 1])).tolist() == [2, 0]


@pytest.mark.filterwarnings("ignore:Using 'NeighborSampler' without a 'pyg-lib'")
def test_pyg_backend_batches_carry_their_subgraph(sparse_graph, full_graph, monkeypatch):
    """``LinkNeighborLoader`` end to end, its compiled kernel replaced by the pure sampler
    (every neighbour, 2 hops): same sub-graph contract, and LightGCN on it is exact."""
    data, _ = sparse_graph
    index = NeighborIndex(train_graph(data).node_type_subgraph(['user', 'item']))

    def kernel(self, seed, seed_time=None, **kwargs):
        node, row, col, counts = index.sample(seed, [-1, -1], torch.Generator())
        return HeteroSamplerOutput(node=node, row=row, col=col, edge={},
                                   num_sampled_nodes=counts)
    monkeypatch.setattr(NeighborSampler, '_sample', kernel)
    monkeypatch.setattr('addrl_graph.loader.link_loader.has_pyg_sampler', lambda: True)
    torch.manual_seed(0)
    loader = make_train_loader(data, batch_size=4, num_neg=2, backend='pyg',
                               num_neighbors=[-1, -1])
    model = random_model(full_graph, 'lightgcn')
    with torch.no_grad():
        full_user = model.id_encoder(full_graph)[0]
        for batch in list(loader)[:5]:
            assert batch.validate().graph is not None
            user, _ = model.id_chunks(batch, full_graph)  # on the batch's sampled graph
            torch.testing.assert_close(user, full_user[batch.user_id], rtol=1e-5, atol=1e-5)


# ---------------------------------------------------------------------- encoders on it
@pytest.mark.parametrize('name, layers, config', [
    ('lightgcn', 3, {}), ('gcn', 2, {}), ('gcn', 2, {'attribute_aware': True}),
    ('sage', 2, {}), ('sage', 2, {'attribute_aware': True})])
def test_all_neighbours_give_the_full_graph_outputs(sparse_graph, full_graph, name, layers,
                                                   config):
    model = random_model(full_graph, name, encoder_layers=layers, **config)
    batch = first_batch(sparse_graph[0], [-1] * layers, name)
    with torch.no_grad():
        full_user, full_item = model.id_encoder(full_graph)
        user, item = model.id_chunks(batch, full_graph)  # on the batch's sampled graph
    torch.testing.assert_close(user, full_user[batch.user_id], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(item, full_item[batch.item_id], rtol=1e-5, atol=1e-5)
    assert batch.graph.nodes('user').numel() < sparse_graph[0]['user'].num_nodes


@torch.no_grad()
def test_sampled_lightgcn_is_unbiased(sparse_graph, full_graph):
    """One layer, one neighbour per node: the mean over draws approaches the full graph."""
    data, _ = sparse_graph
    encoder = LightGCNEncoder(ChunkSizes(150, 200, num_chunks=1, d_chunk=D), num_layers=1)
    users = torch.arange(20)
    g = torch.Generator().manual_seed(0)
    encoder.user_embedding.weight.copy_(torch.randn(150, D, generator=g))
    encoder.item_embedding.weight.copy_(torch.randn(200, D, generator=g))
    full = encoder(full_graph)[0][users]
    index = NeighborIndex(train_graph(data).node_type_subgraph(['user', 'item']))
    draws = []
    for _ in range(400):
        node, row, col, _ = index.sample({'user': users}, [1], g)
        degree = {r: full_graph.in_degree(r)[node[r[2]]] for r in (INTERACTS, REV_INTERACTS)}
        graph = SampledGraph(node, {r: torch.stack([row[r], col[r]]) for r in row},
                             {'user': users.numel()}, degree)
        draws.append(encoder(graph)[0][:20])
    mean = torch.stack(draws).mean(dim=0)
    assert (mean - full).abs().max() < 0.1 < (draws[0] - full).abs().max()


def test_attribute_encoders_refuse_a_graph_without_attribute_values(sparse_graph, full_graph):
    model = random_model(full_graph, 'sage')
    batch = first_batch(sparse_graph[0], [3, 2], 'lightgcn')  # users and items only
    with pytest.raises(ConfigError, match='attribute_neighbors=True'):
        model(batch, full_graph)


@pytest.mark.parametrize('name', ['lightgcn', 'gcn', 'sage'])
def test_chunks_never_mix_on_a_sampled_graph(sparse_graph, full_graph, name):
    model = random_model(full_graph, name)
    graph = first_batch(sparse_graph[0], [3, 2], name).graph
    K, encoder = model.num_chunks, model.id_encoder
    first_seed = graph.nodes('user')[0]
    with torch.no_grad():
        before = encoder(graph)
        for k in range(K):
            ego = encoder.user_embedding.weight[first_seed].clone()
            encoder.user_embedding.weight[first_seed, k * D:(k + 1) * D] += 1.0  # its chunk k
            after = encoder(graph)
            encoder.user_embedding.weight[first_seed] = ego
            others = [j for j in range(K) if j != k]
            for out0, out1 in zip(before, after):
                torch.testing.assert_close(out1[:, others], out0[:, others], rtol=0, atol=0)
            assert (after[1][:, k] != before[1][:, k]).any()  # its items heard it


@pytest.mark.parametrize('name', ['lightgcn', 'sage'])
def test_a_sampled_step_propagates_once_and_touches_its_subgraph_only(sparse_graph, full_graph,
                                                                      name):
    model = random_model(full_graph, name)
    batch = first_batch(sparse_graph[0], [3, 2], name, batch_size=8)
    calls = []
    model.id_encoder.register_forward_hook(lambda *_: calls.append(1))
    loss, _ = model(batch, full_graph)
    loss.backward()
    assert len(calls) == 1
    touched = model.id_encoder.user_embedding.weight.grad.abs().sum(dim=1).nonzero().view(-1)
    assert touched.numel() > batch.user_id.unique().numel()  # neighbours get gradients too
    assert set(touched.tolist()) <= set(batch.graph.nodes('user').tolist())


# ---------------------------------------------------------------------- training
@pytest.fixture(scope='module')
def structure_graph_dir(tmp_path_factory):
    """The synthetic ``small`` preset (600 users, 500 items, planted preferences) without
    features: AD-DRL with the ID view only."""
    from data_builders.build import BuildConfig, build
    from data_builders.synthetic import generate

    work = tmp_path_factory.mktemp('sampled_training')
    generate(work / 'raw', preset='small', seed=0, images=False, progress=False)
    build(BuildConfig(format='2014', reviews=work / 'raw' / 'reviews.json.gz',
                      meta=work / 'raw' / 'meta.json.gz', out=work / 'graph',
                      text_encoder='none', image_encoder='none', progress=False))
    return work / 'graph'


def test_lightgcn_trains_on_sampled_neighbourhoods(structure_graph_dir, tmp_path):
    from addrl_graph.data.schema import load_graph

    data, meta = load_graph(structure_graph_dir)
    # the loss criterion below was calibrated with the synthetic preset's loss balance
    model_config = ModelConfig(**{**SMALL_PRESET_MODEL, 'id_encoder': 'lightgcn'})
    torch.manual_seed(0)
    untrained = ADDRL.from_graph(TrainGraph.from_data(data, meta), model_config).eval()
    random_recall = evaluate(untrained, data, 'valid', progress=False)['recall@20']
    results = train(structure_graph_dir, tmp_path / 'run',
                    TrainConfig(epochs=4, lr=1e-2, num_neighbors=[10, 10], patience=4),
                    model_config, progress=False)
    history = (tmp_path / 'run' / 'metrics.jsonl').read_text().splitlines()
    losses = [json.loads(line)['loss'] for line in history]
    assert losses[-1] < 0.8 * losses[0]
    assert results['valid']['recall@20'] > max(2 * random_recall, 0.08)
    saved = json.loads((tmp_path / 'run' / 'config.json').read_text())
    assert saved['train']['num_neighbors'] == [10, 10]


@pytest.mark.parametrize('num_neighbors, match', [
    ([10, 0], r'-1 \(all\)'),
    ([10, -2], r'\(got \[10, -2\]\)'),
    ('10,x', "got '10,x'"),  # text is the command line's to split (test_command_line_flag)
])
def test_bad_fan_outs_are_rejected_by_the_config(num_neighbors, match):
    with pytest.raises(ConfigError, match=match):
        TrainConfig(num_neighbors=num_neighbors)


@pytest.mark.parametrize('train_fields, model_config, match', [
    (dict(num_neighbors=[10, 10]), ModelConfig(id_encoder='embedding'),
     "model='addrl', which reads no sampled graph"),
    (dict(model='lightgcn', num_neighbors=[10, 10]),
     ModelConfig(id_encoder='lightgcn', encoder_layers=2), "model='lightgcn'"),
    (dict(num_neighbors=[10]), ModelConfig(id_encoder='sage', encoder_layers=2),
     'one fan-out per encoder'),
])
def test_fan_outs_the_model_cannot_use_are_rejected_before_training(tmp_path, train_fields,
                                                                   model_config, match):
    """The model declares what its batches need (``batch_needs``, its encoder's layers); the
    trainer checks ``num_neighbors`` against it before it writes anything."""
    graph_dir = testing.save_tiny_graph(tmp_path / 'graph')
    with pytest.raises(ConfigError, match=match):
        train(graph_dir, tmp_path / 'run', TrainConfig(**train_fields), model_config,
              progress=False)
    assert not (tmp_path / 'run').exists()


def test_command_line_flag(tmp_path, capsys):
    folders = ['--data', str(testing.save_tiny_graph(tmp_path / 'graph')), '--out',
               str(tmp_path / 'run')]
    assert parse('train', [*folders, '--num-neighbors', '10,5']).train_config.num_neighbors \
        == [10, 5]
    code = main(['--quiet', 'train', *folders, '--id-encoder', 'lightgcn', '--encoder-layers',
                 '2', '--num-neighbors', '10'])
    assert code == 2 and 'one fan-out per encoder layer, 2 (got [10])' in capsys.readouterr().err
    assert main(['--quiet', 'train', *folders, '--num-neighbors', '10,x']) == 2
    err = capsys.readouterr().err
    assert "--num-neighbors: expected comma-separated int" in err and "(got '10,x')" in err
    assert not (tmp_path / 'run').exists()


def test_runs_saved_before_num_neighbors_resume(tiny_graph, tmp_path):
    _, meta = tiny_graph
    current = run_config(tmp_path, meta, TrainConfig(), ModelConfig())
    old = {**current, 'train': {k: v for k, v in current['train'].items()
                                if k != 'num_neighbors'}}
    assert config_differences(old, current) == []
    sampled = run_config(tmp_path, meta, TrainConfig(num_neighbors=[5, 5]), ModelConfig())
    assert config_differences(old, sampled) == [
        'train.num_neighbors: checkpoint None, now [5, 5]']
