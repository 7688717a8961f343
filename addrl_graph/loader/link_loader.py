"""Training batches: PyG link loaders over the ``TRAIN`` user–item edges, yielding
:class:`~addrl_graph.loader.batch.TripletBatch`.

Two backends, one output:

- ``'pyg'``: :class:`~torch_geometric.loader.LinkNeighborLoader` with
  ``NegativeSampling('triplet', amount=num_neg)``; needs ``pyg-lib`` or ``torch-sparse``. PyG draws
  negatives blindly from the global torch RNG, so the collate step replaces every negative that is
  a training item of its user (with the loader's own generator).
- ``'pure'``: PyG's :class:`~torch_geometric.loader.LinkLoader` with
  :class:`~addrl_graph.loader.sampler.TripletSampler`, which draws collision-free negatives itself and
  samples neighbourhoods with :class:`~addrl_graph.loader.neighbors.NeighborIndex`.

With ``num_neighbors`` reaching beyond the seed nodes, both sample the batch's users and items
and their neighbourhoods over the training graph, and every batch carries them as a
:class:`~addrl_graph.loader.batch.SampledGraph` (:func:`sampled_graph`), on which a graph ID encoder
computes the batch's ID chunks instead of propagating over the whole graph.

Both loaders replace ``LinkLoader.filter_fn`` with :class:`TripletCollate`, which gathers the item
features of the batch's unique items straight from ``data['item']`` (no sub-``HeteroData`` is built:
that generic path copies every node and edge store, and took ~1.6x longer per batch here).

What remains is the feature gather itself (``B * (1 + N)`` item rows of ``d_t + d_v`` floats per
batch): each batch's ``x_image`` block is tens of MB, which glibc serves from fresh ``mmap`` pages,
so page faults cost more than the copy; ``THP_MEM_ALLOC_ENABLE=1`` in the environment cuts that.

A loader is built once per run: :meth:`TripletLinkLoader.reseed` gives each epoch its own
order, negatives and neighbourhoods (the same as a loader built afresh with that seed).
"""
from __future__ import annotations

import copy
import logging
from typing import Any, Iterator, Sequence

import torch
from torch import Tensor
from torch.utils.data import Sampler
from torch_geometric.data import HeteroData
from torch_geometric.loader import LinkLoader, LinkNeighborLoader
from torch_geometric.sampler import HeteroSamplerOutput, NegativeSampling
import torch_geometric.typing

from addrl_graph.loader.batch import SampledGraph, TripletBatch
from addrl_graph.data.schema import INTERACTS, REV_INTERACTS, TRAIN, split_edges
from addrl_graph.distributed import shard_indices
from addrl_graph.errors import ConfigError
from addrl_graph.loader.neighbors import samples_neighbors
from addrl_graph.loader.sampler import TrainPairs, TripletSampler, worker_generator

log = logging.getLogger(__name__)

BACKENDS = ('auto', 'pyg', 'pure')


def has_pyg_sampler() -> bool:
    """Whether PyG can sample neighbourhoods here (``pyg-lib`` or ``torch-sparse`` importable)."""
    return bool(torch_geometric.typing.WITH_PYG_LIB or torch_geometric.typing.WITH_TORCH_SPARSE)


def resolve_backend(backend: str) -> str:
    """Map ``'auto'`` to ``'pyg'`` when a sampling backend is importable, else ``'pure'``."""
    if backend not in BACKENDS:
        raise ConfigError(f'backend must be one of {BACKENDS} (got {backend!r})')
    if backend == 'auto':
        return 'pyg' if has_pyg_sampler() else 'pure'
    if backend == 'pyg' and not has_pyg_sampler():
        raise ConfigError("backend='pyg' needs pyg-lib or torch-sparse, neither is importable; "
                          "use backend='pure' (or 'auto')")
    return backend


def train_graph(data: HeteroData) -> HeteroData:
    """A shallow copy of ``data`` whose user–item edges (both directions) are the ``TRAIN`` ones,
    so that neighbour sampling never sees validation or test interactions."""
    out = copy.copy(data)
    edge_index = split_edges(data, TRAIN)
    out[INTERACTS].edge_index = edge_index
    out[INTERACTS].split = torch.full((edge_index.size(1),), TRAIN, dtype=torch.long)
    if REV_INTERACTS in data.edge_types:
        out[REV_INTERACTS].edge_index = edge_index.flip(0)
    return out


def _seeds_first(ids: Tensor, seeds: Tensor) -> tuple[Tensor, Tensor]:
    """``(cat([seeds, ids ∖ seeds]), new position of every entry of ids)``."""
    reordered = torch.cat([seeds, ids[~torch.isin(ids, seeds)]])
    ordered, order = reordered.sort()
    return reordered, order[torch.searchsorted(ordered, ids)]


def in_degrees(graph: HeteroData) -> dict[tuple[str, str, str], Tensor]:
    """``{r: [N_t]}`` float in-degree of every target node of every relation of ``graph``."""
    return {et: torch.bincount(graph[et].edge_index[1],
                               minlength=graph[et[2]].num_nodes).float()
            for et in graph.edge_types}


def sampled_graph(out: HeteroSamplerOutput, seeds: dict[str, Tensor],
                  degree: dict[tuple[str, str, str], Tensor] | None = None) -> SampledGraph:
    """The sub-graph of any sampler output with edges (:class:`TripletSampler`'s or PyG's
    ``LinkNeighborLoader``'s) as a :class:`SampledGraph` whose ``node[t]`` starts with
    ``seeds[t]``. A seed the sampler never saw (a negative repaired after PyG sampled) joins
    without edges. ``degree`` (:func:`in_degrees` of the training graph) gives the sampled
    nodes their full-graph in-degrees.

    Shapes:
        - **seeds[t]** :math:`[S_t]` sorted unique global ids, for ``'user'`` and ``'item'``
    """
    node, local = {}, {}
    for t, ids in out.node.items():
        node[t], local[t] = (_seeds_first(ids, seeds[t]) if t in seeds
                             else (ids, torch.arange(ids.numel())))
    edge_index = {edge_type: torch.stack([local[edge_type[0]][row],
                                          local[edge_type[2]][out.col[edge_type]]])
                  for edge_type, row in out.row.items()}
    full_in_degree = {et: d[node[et[2]]] for et, d in (degree or {}).items() if et[2] in node}
    return SampledGraph(node, edge_index, {t: v.numel() for t, v in seeds.items()},
                        full_in_degree)


class TripletCollate:
    r"""Turn a link sampler's triplet output into a :class:`TripletBatch`.

    Args:
        data: the graph whose ``data['item']`` holds ``x_text``, ``x_image``, ``has_text``,
            ``has_image`` and ``attr``.
        num_neg: negatives per positive ``N``.
        pairs: training pairs; when given, negatives that are training items of their user are
            resampled (needed for PyG's blind negative sampling). (default: ``None``)
        seed: seed of the generator used for resampling. (default: ``0``)
        with_graph: attach the sampled sub-graph (:func:`sampled_graph`) to every batch.
            (default: ``False``)

    Shapes:
        - input metadata: **src_index**, **dst_pos_index** :math:`[B]`,
          **dst_neg_index** :math:`[B, N]` (or :math:`[B]` when ``N = 1``)
        - output: see :class:`TripletBatch` (``item_id`` sorted and unique)
    """
    def __init__(self, data: HeteroData, num_neg: int, pairs: TrainPairs | None = None,
                 seed: int = 0, with_graph: bool = False) -> None:
        item = data['item']
        self.x_text, self.x_image = item.x_text, item.x_image
        self.has_text, self.has_image, self.attr = item.has_text, item.has_image, item.attr
        self.num_neg = num_neg
        self.pairs = pairs
        self.with_graph = with_graph
        self.degree = in_degrees(data) if with_graph else None
        self.generator = torch.Generator()
        self.reseed(seed)

    def reseed(self, seed: int) -> None:
        """Restart the resampling generator from ``seed``."""
        self.generator.manual_seed(seed + 1)
        self._worker_state: dict[str, Any] = {}

    def __call__(self, out: HeteroSamplerOutput) -> TripletBatch:
        _, src_index, pos_index, neg_index = out.metadata[:4]
        num_pos = src_index.numel()
        user_id = out.node['user'][src_index]
        neg_index = neg_index.reshape(num_pos, self.num_neg)
        if self.pairs is None:  # the sampler returns the seed items first, unique and sorted
            item_id = out.node['item'][:out.num_sampled_nodes['item'][0]]
        else:
            items = out.node['item']
            pos, neg = items[pos_index], items[neg_index]
            generator = worker_generator(self.generator, self._worker_state)
            neg = self.pairs.resample_collisions(user_id, neg, generator)
            item_id, inverse = torch.unique(torch.cat([pos, neg.view(-1)]), return_inverse=True)
            pos_index = inverse[:num_pos]
            neg_index = inverse[num_pos:].view(num_pos, self.num_neg)
        return TripletBatch(
            user_id=user_id, item_id=item_id, pos_index=pos_index, neg_index=neg_index,
            x_text=self.x_text.index_select(0, item_id),
            x_image=self.x_image.index_select(0, item_id),
            has_text=self.has_text[item_id], has_image=self.has_image[item_id],
            attr=self.attr.index_select(0, item_id),
            graph=(sampled_graph(out, {'user': user_id.unique(), 'item': item_id}, self.degree)
                   if self.with_graph else None))


class EpochOrder(Sampler[int]):
    """The order in which one epoch visits the training edges: all of them or, with ``shard =
    (rank, world_size)``, this rank's share (:func:`~addrl_graph.distributed.shard_indices`
    of the epoch's seed), shuffled or not, redrawn by :meth:`reseed`. Its generator is also the
    DataLoader's (which draws the workers' base seed from it first, as with ``shuffle=True``).

    Args:
        num_edges: training edges ``E``.
        shuffle: permute the positions with the sampler's generator.
        shard: ``(rank, world_size)`` or :obj:`None`.
    """
    def __init__(self, num_edges: int, shuffle: bool,
                 shard: tuple[int, int] | None = None) -> None:
        self.num_edges, self.shuffle, self.shard = num_edges, shuffle, shard
        self.generator = torch.Generator()
        self.positions = torch.arange(num_edges)

    def reseed(self, seed: int, rank_seed: int) -> None:
        """This epoch's share (from ``seed``, the same on every rank) and shuffle generator
        (from ``rank_seed``)."""
        if self.shard is not None:
            self.positions = shard_indices(self.num_edges, *self.shard, seed)
        self.generator.manual_seed(rank_seed)
        # Until version 0.1 the trainer iterated through tqdm.auto, which opens the DataLoader
        # twice per epoch, so one base-seed draw was spent before the shuffle; spending it here
        # keeps every epoch's batch order, and every published figure, the same.
        torch.empty((), dtype=torch.int64).random_(generator=self.generator)

    def __len__(self) -> int:
        return self.positions.numel()

    def __iter__(self) -> Iterator[int]:
        if not self.shuffle:
            return iter(self.positions.tolist())
        return iter(self.positions[torch.randperm(len(self), generator=self.generator)].tolist())


class _TripletFilterMixin:
    """Replaces ``LinkLoader.filter_fn`` (sub-graph assembly) with a :class:`TripletCollate`
    and reseeds every generator of the loader at once."""
    triplet_collate: TripletCollate
    epoch_order: EpochOrder
    link_sampler: Any

    def reseed(self, seed: int) -> None:
        """Give the next pass the order, negatives and neighbourhoods of a loader built with
        ``seed`` (a rank of a sharded loader offsets its own draws)."""
        rank_seed = seed + 7919 * self.epoch_order.shard[0] if self.epoch_order.shard else seed
        self.epoch_order.reseed(seed, rank_seed)
        self.triplet_collate.reseed(rank_seed)
        if isinstance(self.link_sampler, TripletSampler):
            self.link_sampler.reseed(rank_seed)

    def filter_fn(self, out: HeteroSamplerOutput) -> TripletBatch:  # type: ignore[override]
        if not isinstance(out, HeteroSamplerOutput):
            raise TypeError(f'expected a HeteroSamplerOutput (got {type(out).__name__})')
        return self.triplet_collate(out)


class TripletLinkLoader(_TripletFilterMixin, LinkLoader):
    """:class:`~torch_geometric.loader.LinkLoader` yielding :class:`TripletBatch`."""
    def __init__(self, data: HeteroData, link_sampler: Any, triplet_collate: TripletCollate,
                 epoch_order: EpochOrder, **kwargs: Any) -> None:
        self.triplet_collate, self.epoch_order = triplet_collate, epoch_order
        super().__init__(data, link_sampler, sampler=epoch_order,
                         generator=epoch_order.generator, **kwargs)


class TripletLinkNeighborLoader(_TripletFilterMixin, LinkNeighborLoader):
    """:class:`~torch_geometric.loader.LinkNeighborLoader` yielding :class:`TripletBatch`."""
    def __init__(self, data: HeteroData, num_neighbors: Sequence[int],
                 triplet_collate: TripletCollate, epoch_order: EpochOrder,
                 **kwargs: Any) -> None:
        self.triplet_collate, self.epoch_order = triplet_collate, epoch_order
        super().__init__(data, num_neighbors=list(num_neighbors), sampler=epoch_order,
                         generator=epoch_order.generator, **kwargs)


def make_train_loader(data: HeteroData, batch_size: int = 1024, num_neg: int = 8,
                      shuffle: bool = True, seed: int = 0, num_workers: int = 0,
                      backend: str = 'auto', num_neighbors: Sequence[int] | None = None,
                      attribute_neighbors: bool = False, drop_last: bool = False,
                      shard: tuple[int, int] | None = None) -> LinkLoader:
    r"""A loader over every ``TRAIN`` edge of ``data[INTERACTS]`` once per epoch, yielding BPR
    triplet batches whose negatives are never training items of their user.

    Args:
        data: a graph following :mod:`addrl_graph.data.schema`'s schema.
        batch_size: positive edges per batch ``B``. (default: ``1024``)
        num_neg: negatives per positive ``N``. (default: ``8``)
        shuffle: shuffle the edges each epoch (with a generator seeded by ``seed``).
            (default: ``True``)
        seed: seeds the shuffle and the negative sampling; two loaders built with the same
            arguments yield the same batches (the ``'pyg'`` backend draws its first negatives
            from the global torch RNG: seed it too); ``loader.reseed(s)`` restarts every
            generator as if the loader had been built with ``seed=s``. (default: ``0``)
        num_workers: DataLoader worker processes. (default: ``0``)
        backend: ``'auto'``, ``'pyg'`` (``LinkNeighborLoader``) or ``'pure'`` (``LinkLoader`` +
            :class:`~addrl_graph.loader.sampler.TripletSampler`). (default: ``'auto'``)
        num_neighbors: neighbours sampled per hop for graph ID encoders (``-1``: all, ``0``:
            none), over the ``TRAIN`` edges only; every batch then carries its
            :class:`~addrl_graph.loader.batch.SampledGraph`. ``None``, ``[]`` or ``[0]``: seed nodes
            only, no sub-graph. (default: ``None``)
        attribute_neighbors: sample the attribute-value nodes too (item → value edges, which
            every item has one of per attribute, and value → item edges), as the ``gcn`` and
            ``sage`` encoders need. (default: ``False``)
        drop_last: drop the last, smaller batch. (default: ``False``)
        shard: ``(rank, world_size)`` for data-parallel training: iterate over this rank's
            share of the training edges only (:func:`addrl_graph.distributed.shard_indices`
            with ``seed``; every rank passes the same ``seed``, each draws its own negatives).
            Negatives still avoid every training item of the user. (default: ``None``)

    Shapes:
        - yields :class:`TripletBatch` with ``B <= batch_size`` and ``N = num_neg``
    """
    if batch_size <= 0 or num_neg <= 0:
        raise ConfigError(f'batch_size and num_neg must be positive '
                          f'(got batch_size={batch_size}, num_neg={num_neg})')
    backend = resolve_backend(backend)
    with_graph = samples_neighbors(num_neighbors)
    graph = train_graph(data)
    if with_graph and not attribute_neighbors:
        graph = graph.node_type_subgraph(['user', 'item'])
    edge_index = graph[INTERACTS].edge_index
    if edge_index.size(1) == 0:
        log.warning('the graph has no training edges: the loader yields no batch')
    pairs = TrainPairs(edge_index, data['user'].num_nodes, data['item'].num_nodes)
    order = EpochOrder(edge_index.size(1), shuffle, shard)
    kwargs = dict(edge_label_index=(INTERACTS, edge_index),
                  neg_sampling=NegativeSampling('triplet', amount=num_neg),
                  batch_size=batch_size, drop_last=drop_last,
                  num_workers=num_workers, filter_per_worker=False)
    if backend == 'pure':
        sampler = TripletSampler(graph, num_neighbors, train_pairs=pairs)
        collate = TripletCollate(graph, num_neg, pairs=None, with_graph=with_graph)
        loader: LinkLoader = TripletLinkLoader(graph, sampler, collate, order, **kwargs)
    else:
        collate = TripletCollate(graph, num_neg, pairs=pairs, with_graph=with_graph)
        loader = TripletLinkNeighborLoader(graph, list(num_neighbors or [0]), collate, order,
                                           **kwargs)
    loader.reseed(seed)
    log.info('train loader: backend=%s, %d edges, batch_size=%d, num_neg=%d, num_neighbors=%s',
             backend, edge_index.size(1), batch_size, num_neg, num_neighbors)
    return loader
