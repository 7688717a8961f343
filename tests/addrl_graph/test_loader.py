"""Training loader: layout, epoch coverage, collision-free negatives, determinism, backends."""
from __future__ import annotations

import pytest
import torch
from torch_geometric.data import HeteroData
from torch_geometric.sampler import EdgeSamplerInput, HeteroSamplerOutput, NeighborSampler

from addrl_graph.loader.batch import TripletBatch
from addrl_graph.data.schema import INTERACTS, REV_INTERACTS, TRAIN, VALID, TEST, split_edges
from addrl_graph.errors import ConfigError
from addrl_graph.loader.link_loader import (has_pyg_sampler, make_train_loader,
                                train_graph)
from addrl_graph.loader.sampler import TrainPairs, TripletSampler
from addrl_graph.testing import graph_from_interactions


def toy_graph(num_users: int = 12, num_items: int = 10, density: float = 0.6, seed: int = 0,
              d_t: int = 4, d_v: int = 6) -> HeteroData:
    """A dense-ish graph: each user interacts with ~``density`` of the items (so naive uniform
    negatives would collide ~60% of the time); 70/15/15 train/valid/test edges, one attribute."""
    g = torch.Generator().manual_seed(seed)
    adj = torch.rand(num_users, num_items, generator=g) < density
    adj[:, 0] = True  # every user has an edge; no user owns every item:
    adj[:, -1] = False
    user, item = adj.nonzero().t()
    r = torch.rand(user.numel(), generator=g)
    split = torch.full_like(user, TRAIN)
    split[r > 0.7] = VALID
    split[r > 0.85] = TEST
    return graph_from_interactions(
        user, item, split, num_users, num_items, attr=(torch.arange(num_items) % 3).view(-1, 1),
        attributes={'price': 3},
        x_text=torch.arange(num_items * d_t, dtype=torch.float32).view(num_items, d_t),
        x_image=-torch.arange(num_items * d_v, dtype=torch.float32).view(num_items, d_v),
        has_text=torch.arange(num_items) % 2 == 0, has_image=torch.arange(num_items) % 3 != 0)[0]


def train_pair_set(data: HeteroData) -> set[tuple[int, int]]:
    return {tuple(e) for e in split_edges(data, TRAIN).t().tolist()}


def triplets(batch: TripletBatch) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Global (user [B], positive [B], negatives [B, N])."""
    return batch.user_id, batch.item_id[batch.pos_index], batch.item_id[batch.neg_index]


def test_batch_layout():
    data = toy_graph()
    train = train_pair_set(data)
    batch = next(iter(make_train_loader(data, batch_size=8, num_neg=3, backend='pure')))
    assert isinstance(batch, TripletBatch)
    batch.validate()
    B, M = 8, batch.item_id.numel()
    assert batch.user_id.shape == (B,) and batch.neg_index.shape == (B, 3)
    assert batch.x_text.shape == (M, 4) and batch.x_image.shape == (M, 6)
    assert batch.x_text.dtype == torch.float32 and batch.attr.dtype == torch.long
    assert torch.equal(batch.item_id, torch.unique(batch.item_id))  # sorted and unique
    item = data['item']
    assert torch.equal(batch.x_text, item.x_text[batch.item_id])
    assert torch.equal(batch.x_image, item.x_image[batch.item_id])
    assert torch.equal(batch.has_text, item.has_text[batch.item_id])
    assert torch.equal(batch.has_image, item.has_image[batch.item_id])
    assert torch.equal(batch.attr, item.attr[batch.item_id])
    user, pos, neg = triplets(batch)
    for u, p, ns in zip(user.tolist(), pos.tolist(), neg.tolist()):
        assert (u, p) in train
        assert not any((u, n) in train for n in ns)
    # every unique item is used by some triplet
    used = torch.cat([batch.pos_index, batch.neg_index.view(-1)]).unique()
    assert torch.equal(used, torch.arange(M))


def test_epoch_covers_every_train_edge_once():
    data = toy_graph()
    seen = []
    for batch in make_train_loader(data, batch_size=7, num_neg=2, backend='pure'):
        user, pos, _ = triplets(batch)
        seen += list(zip(user.tolist(), pos.tolist()))
    expected = split_edges(data, TRAIN).t().tolist()
    assert sorted(seen) == sorted(map(tuple, expected))
    assert len(seen) == len(expected)


def test_negatives_never_collide_on_dense_graph():
    data = toy_graph(num_users=30, num_items=12, density=0.8, seed=1)
    pairs = TrainPairs.from_data(data)
    users = split_edges(data, TRAIN)[0]
    naive = torch.randint(12, (users.numel(), 16), generator=torch.Generator().manual_seed(0))
    assert pairs.contains(users, naive).float().mean() > 0.3  # naive sampling collides often
    total = collisions = 0
    for epoch in range(3):
        for batch in make_train_loader(data, batch_size=16, num_neg=16, seed=epoch,
                                       backend='pure'):
            user, _, neg = triplets(batch)
            collisions += int(pairs.contains(user, neg).sum())
            total += neg.numel()
    assert total > 0 and collisions == 0


def test_resample_falls_back_to_exact_complement():
    # user 0 trained on items 0..8 of 10: only item 9 is a valid negative
    edge_index = torch.tensor([[0] * 9 + [1], list(range(9)) + [3]])
    pairs = TrainPairs(edge_index, num_users=2, num_items=10)
    g = torch.Generator().manual_seed(0)
    neg = pairs.sample_negatives(torch.tensor([0, 0, 1]), 300, g, max_rounds=0)
    assert torch.all(neg[:2] == 9)
    assert not torch.any(neg[2] == 3)
    assert set(neg[2].tolist()) == set(range(10)) - {3}  # the complement, nothing else
    with pytest.raises(ConfigError, match='trained on all'):
        TrainPairs(torch.tensor([[0, 0], [0, 1]]), 1, 2).sample_negatives(
            torch.tensor([0]), 1, g)


def test_complement_sampling_is_uniform():
    edge_index = torch.tensor([[0] * 5, [1, 2, 4, 5, 6]])
    pairs = TrainPairs(edge_index, num_users=1, num_items=8)  # free: 0, 3, 7
    g = torch.Generator().manual_seed(0)
    neg = pairs._sample_complement(torch.zeros(30_000, dtype=torch.long), g)
    counts = torch.bincount(neg, minlength=8).float() / neg.numel()
    assert torch.allclose(counts[[0, 3, 7]], torch.full((3,), 1 / 3), atol=0.02)
    assert counts[[1, 2, 4, 5, 6]].sum() == 0


def test_determinism_with_seed():
    data = toy_graph()

    def run(seed):
        return [triplets(b) for b in make_train_loader(data, batch_size=5, num_neg=4,
                                                       seed=seed, backend='pure')]
    a, b, c = run(3), run(3), run(4)
    assert all(torch.equal(x, y) for ta, tb in zip(a, b) for x, y in zip(ta, tb))
    assert any(not torch.equal(x, y) for ta, tc in zip(a, c) for x, y in zip(ta, tc))


def test_no_shuffle_keeps_edge_order():
    data = toy_graph()
    batch = next(iter(make_train_loader(data, batch_size=4, shuffle=False, backend='pure')))
    train = split_edges(data, TRAIN)
    assert torch.equal(batch.user_id, train[0, :4])
    assert torch.equal(batch.item_id[batch.pos_index], train[1, :4])


def test_tiny_and_empty_batches():
    data = toy_graph()
    num_train = split_edges(data, TRAIN).size(1)
    batches = list(make_train_loader(data, batch_size=num_train - 1, num_neg=1, backend='pure'))
    assert [b.user_id.numel() for b in batches] == [num_train - 1, 1]
    last = batches[-1].validate()
    assert last.neg_index.shape == (1, 1)  # N = 1 keeps its dimension
    loader = make_train_loader(data, batch_size=4, num_neg=2, backend='pure')
    empty = loader([]).validate()  # LinkLoader.__call__ on no edges
    assert empty.user_id.numel() == 0 and empty.neg_index.shape == (0, 2)
    assert empty.x_image.shape == (0, 6)
    # a graph without training edges yields no batch
    data[INTERACTS].split = torch.full_like(data[INTERACTS].split, VALID)
    assert list(make_train_loader(data, backend='pure')) == []


def test_bad_arguments():
    data = toy_graph()
    with pytest.raises(ConfigError, match='backend'):
        make_train_loader(data, backend='fast')
    with pytest.raises(ConfigError, match='num_neighbors'):
        make_train_loader(data, backend='pure', num_neighbors=[10, -2])
    batch = next(iter(make_train_loader(data, backend='pure', num_neighbors=[10, 10])))
    assert batch.validate().graph is not None  # multi-hop sampling (test_neighbor_sampling.py)
    with pytest.raises(ConfigError, match='batch_size'):
        make_train_loader(data, batch_size=0)
    if not has_pyg_sampler():
        with pytest.raises(ConfigError, match='pyg-lib'):
            make_train_loader(data, backend='pyg')
    with pytest.raises(NotImplementedError, match='training edges'):
        TripletSampler(data).sample_from_nodes(None)


def test_train_graph_hides_held_out_edges():
    data = toy_graph()
    graph = train_graph(data)
    assert torch.equal(graph[INTERACTS].edge_index, split_edges(data, TRAIN))
    assert torch.equal(graph[REV_INTERACTS].edge_index, split_edges(data, TRAIN).flip(0))
    assert data[INTERACTS].edge_index.size(1) > graph[INTERACTS].edge_index.size(1)  # untouched


def _seed_only_sample(self, seed, seed_time=None, **kwargs):
    """What pyg-lib returns for num_neighbors=[0]: the seed nodes and no edges."""
    return HeteroSamplerOutput(node=dict(seed), row={}, col={}, edge={},
                               num_sampled_nodes={k: [v.numel()] for k, v in seed.items()})


def _layout(batch: TripletBatch):
    assert batch.graph is None  # seed nodes only
    return {name: (tuple(getattr(batch, name).shape[1:]), getattr(batch, name).dtype)
            for name in batch.__dataclass_fields__ if name != 'graph'}


@pytest.mark.filterwarnings("ignore:Using 'NeighborSampler' without a 'pyg-lib'")
def test_pyg_path_with_seed_only_kernel(monkeypatch):
    """The LinkNeighborLoader path end to end, with PyG's own edge_sample and blind negative
    sampling; only the compiled neighbour kernel is replaced by a seed-only stand-in."""
    monkeypatch.setattr(NeighborSampler, '_sample', _seed_only_sample)
    monkeypatch.setattr('addrl_graph.loader.link_loader.has_pyg_sampler', lambda: True)
    data = toy_graph(num_users=30, num_items=12, density=0.8, seed=1)
    pairs = TrainPairs.from_data(data)
    train = train_pair_set(data)
    torch.manual_seed(0)  # PyG draws its negatives from the global RNG
    pyg = list(make_train_loader(data, batch_size=16, num_neg=5, backend='pyg'))
    pure = list(make_train_loader(data, batch_size=16, num_neg=5, backend='pure'))
    assert len(pyg) == len(pure)
    seen = []
    for a, b in zip(pyg, pure):
        a.validate()
        assert _layout(a) == _layout(b)
        assert torch.equal(a.item_id, torch.unique(a.item_id))
        user, pos, neg = triplets(a)
        assert all((u, p) in train for u, p in zip(user.tolist(), pos.tolist()))
        assert not bool(pairs.contains(user, neg).any())  # blind negatives were repaired
        assert torch.equal(a.x_image, data['item'].x_image[a.item_id])
        seen += list(zip(user.tolist(), pos.tolist()))
    assert sorted(seen) == sorted(train)


@pytest.mark.skipif(not has_pyg_sampler(), reason='needs pyg-lib or torch-sparse for '
                    'LinkNeighborLoader; neither is installable here (see DESIGN.md)')
def test_backends_agree_in_layout():
    data = toy_graph(num_users=30, num_items=12, density=0.8, seed=1)
    pairs = TrainPairs.from_data(data)
    pyg = next(iter(make_train_loader(data, batch_size=16, num_neg=5, backend='pyg')))
    pure = next(iter(make_train_loader(data, batch_size=16, num_neg=5, backend='pure')))
    assert _layout(pyg.validate()) == _layout(pure.validate())
    user, _, neg = triplets(pyg)
    assert not bool(pairs.contains(user, neg).any())


def test_pure_sampler_matches_pyg_metadata_layout():
    data = toy_graph()
    sampler = TripletSampler(data)
    train = split_edges(data, TRAIN)[:, :6]
    from torch_geometric.sampler import NegativeSampling
    out = sampler.sample_from_edges(
        EdgeSamplerInput(None, train[0], train[1], input_type=INTERACTS),
        NegativeSampling('triplet', amount=2))
    input_id, src_index, pos_index, neg_index, seed_time = out.metadata
    assert seed_time is None and neg_index.shape == (6, 2)
    assert torch.equal(out.node['user'][src_index], train[0])
    assert torch.equal(out.node['item'][pos_index], train[1])


