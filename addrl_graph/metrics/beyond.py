r"""Beyond-accuracy metrics of the top-k lists, PyG's (:mod:`torch_geometric.metrics`, read in
``link_pred.py``, 2.8), fed from the training graph:

- ``coverage@k`` (``LinkPredCoverage``): the fraction of the catalogue's ``I`` items that are in
  the top k of at least one evaluated user.
- ``diversity@k`` (``LinkPredDiversity``): intra-list diversity over one item attribute
  (``category`` by default),
  :math:`1 - \frac{1}{k(k-1)} \sum_{i \ne j} [a_i = a_j]` over the ordered pairs of the top k,
  averaged over users: 0 when a user's list holds one value, 1 when every item has its own.
  Items whose value is unknown share the ``unknown`` value, as in the graph.
- ``avg_popularity@k`` (``LinkPredAveragePopularity``): the mean *raw* training in-degree
  (number of ``TRAIN`` interactions) of the recommended items, averaged over users; raw so it
  reads as "recommended items have this many training interactions" and moves visibly when ξ
  turns the popularity chunk up or down (divide by :attr:`Catalogue.popularity` ``.max()`` for
  a 0–1 figure). Lower means less popularity bias.

All three read the same lists as the accuracy metrics: the top ``min(k, I)`` items, training
(and, when testing, validation) items masked. A user with fewer than k items left unmasked has
masked items at the tail of the list, so on a catalogue barely larger than k these figures
describe the catalogue more than the model. PyG's diversity divides by :math:`k(k-1)` even when
the list is shorter than k; :func:`beyond_metric` therefore builds it at ``min(k, I)``.

Shapes legend: ``I`` items.
"""
from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor
from torch_geometric.metrics import (
    LinkPredAveragePopularity,
    LinkPredCoverage,
    LinkPredDiversity,
)
from torch_geometric.metrics.link_pred import _LinkPredMetric

from addrl_graph.data.schema import INTERACTS
from addrl_graph.data.train_graph import TrainGraph
from addrl_graph.errors import ConfigError

BEYOND_ACCURACY = ('coverage', 'diversity', 'avg_popularity')


@dataclass(frozen=True)
class Catalogue:
    """What the beyond-accuracy metrics know about the items.

    Attributes:
        num_items: ``I``.
        popularity: ``[I]`` float training in-degree of every item.
        category: ``[I]`` long value of the diversity attribute of every item, or :obj:`None`
            when no diversity is asked for.
        attribute: the name of that attribute, or :obj:`None`.
    """
    num_items: int
    popularity: Tensor
    category: Tensor | None
    attribute: str | None

    @classmethod
    def from_graph(cls, graph: TrainGraph, attribute: str | None = 'category') -> 'Catalogue':
        """Popularity from ``graph``'s ``TRAIN`` edges, categories from its ``attr`` column
        ``attribute`` (none when :obj:`None`).

        Raises:
            ConfigError: ``graph`` has no attribute named ``attribute``.
        """
        names = graph.attribute_names
        if attribute is not None and attribute not in names:
            raise ConfigError(f'diversity_attribute must be one of the graph\'s attributes '
                              f'{names} (got {attribute!r})')
        category = None if attribute is None else graph.attr[:, names.index(attribute)]
        return cls(graph.num_items, graph.in_degree(INTERACTS), category, attribute)


def beyond_metric(name: str, k: int, catalogue: Catalogue) -> _LinkPredMetric:
    """The PyG metric ``name`` (one of :data:`BEYOND_ACCURACY`) at cut-off ``k``.

    Raises:
        ConfigError: ``diversity`` from a catalogue without categories, or with fewer than
            two items in the list (``min(k, I) < 2``: a one-item list has no pairs).
    """
    if name == 'coverage':
        return LinkPredCoverage(k, catalogue.num_items)
    if name == 'avg_popularity':
        return LinkPredAveragePopularity(k, catalogue.popularity)
    if name != 'diversity':
        raise ConfigError(f'beyond-accuracy metrics are {BEYOND_ACCURACY} (got {name!r})')
    if catalogue.category is None:
        raise ConfigError('diversity needs a Catalogue built with an attribute (got None)')
    length = min(k, catalogue.num_items)
    if length < 2:
        raise ConfigError(f'diversity@k needs lists of at least 2 items (got k={k} with '
                          f'{catalogue.num_items} items)')
    return LinkPredDiversity(length, catalogue.category)
