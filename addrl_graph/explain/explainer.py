r"""Per-attribute explanations and controllable recommendations (AD-DRL Sec. 4.4-4.5).

Every AD-DRL score splits into one term per chunk (Eq. 11), and chunk :math:`k < A` belongs to
attribute :math:`k`. Controlling a recommendation rescales those terms (Eq. 14, with one
:math:`\xi` per chunk instead of the paper's single one):

.. math::
    s_\xi(u, i) = \sum_{k=1}^{K} \xi_k \, \mathrm{act}(\langle \mathbf{v}_u^k,
    \mathbf{v}_y^k \rangle),

with :math:`\xi_k = 1` for every chunk not named in ``control`` (all ones is the trained
model). Users and items are addressed by their ids in the dumps (``reviewerID``, ``asin``).

Shapes legend: ``U`` users, ``I`` items, ``B`` batch, ``K`` chunks, ``d`` chunk width,
``A`` attributes, ``V_a`` values of attribute a.
"""
from __future__ import annotations

import logging
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Union

import torch
from torch import Tensor, nn
from torch_geometric.data import HeteroData

from addrl_graph.data.catalog import ItemCatalog
from addrl_graph.data.schema import FREE_CHUNK, TRAIN, VALID, load_graph
from addrl_graph.data.seen import UserItems
from addrl_graph.data.train_graph import TrainGraph
from addrl_graph.errors import ConfigError
from addrl_graph.nn.views import MODALITIES

log = logging.getLogger(__name__)

#: Largest |xi| a control takes (Eq. 14): 2 doubles an attribute's influence; far beyond the
#: paper's range (-1 to 2) one attribute's term alone orders the list.
XI_LIMIT = 100.0
#: Users scored at once when ranking all items (a ``[B, I, K]`` term buffer for the lifts).
USER_BLOCK = 256


@dataclass
class Recommendation:
    """One recommended item.

    Attributes:
        user / item: dump ids (``reviewerID``, ``asin``).
        rank: 1-based position in the user's list.
        score: the controlled score :math:`s_\\xi(u, i)` (Eq. 14) the list is sorted by.
        terms: the unscaled term :math:`s(u, i, k)` of every chunk (Eq. 11), by chunk name
            (attribute names, then ``others``); ``sum(terms.values())`` is the plain score.
        title: the item's title (``None`` where the graph has none).
        values: the item's value of each attribute, by name.
    """
    user: str
    item: str
    rank: int
    score: float
    terms: dict[str, float]
    title: str | None = None
    values: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Explanation:
    """Why a user scores an item as it does.

    Attributes:
        user / item: dump ids.
        score: :math:`s(u, i)` (Eq. 11), the sum of ``terms``.
        terms: :math:`s(u, i, k)` by chunk name (attributes, then ``others``).
        modality_weights: Eq. 8 attention of each chunk over ``id``, ``text``, ``image``
            (0 for a view the item or the model lacks).
        values: the item's value of each attribute, by name.
        lift: ``terms`` minus the user's mean term of the same chunk over all items
            (:meth:`Explainer.user_baseline`): how far each chunk lifts this item above the
            user's average item. A chunk whose term is large for every item adds the same to
            every score and cannot change a ranking, so the lift, not the raw term, says which
            attribute made the item rank.
        top_attribute: the attribute with the largest lift (``None`` without attributes).
        title: the item's title (``None`` where the graph has none).
    """
    user: str
    item: str
    score: float
    terms: dict[str, float]
    modality_weights: dict[str, dict[str, float]]
    values: dict[str, str]
    lift: dict[str, float]
    top_attribute: str | None
    title: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def parse_control(text: str | None, separators: str = '=') -> dict[str, float]:
    """``'price=2,popularity=0'`` → ``{'price': 2.0, 'popularity': 0.0}``; a name and its
    :math:`\\xi` are split at the first of ``separators`` found in the pair.

    Raises:
        ValueError: with the malformed pair as its argument (no name, no separator, or not a
            number); callers word the error for their flag or parameter.
    """
    control: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in (text or '').split(','))):
        cut = min((part.find(sep) for sep in separators if sep in part), default=-1)
        name = part[:cut].strip()
        try:
            xi = float(part[cut + 1:])
        except ValueError:
            raise ValueError(part) from None
        if cut < 0 or not name:
            raise ValueError(part)
        control[name] = xi
    return control


def chunk_names(attribute_names: list[str], num_chunks: int) -> list[str]:
    """Name of every chunk: the attributes, then ``others`` (``others_1`` … when several)."""
    free = num_chunks - len(attribute_names)
    return list(attribute_names) + ([FREE_CHUNK] if free == 1
                                    else [f'{FREE_CHUNK}_{j + 1}' for j in range(free)])


class Explainer:
    r"""A trained AD-DRL model with its graph, ready to rank, control and explain.

    The model's ranking tables (fused item chunks, Eq. 9, with their fusion weights, Eq. 8, and
    the user chunks) do not depend on the question asked, so they are computed once here;
    every score goes through :class:`~addrl_graph.nn.scoring.ChunkTables`.

    Args:
        model (nn.Module): a trained AD-DRL model (any ID encoder): ``attribute_names``,
            ``num_chunks`` and ``tables(graph)``.
        data (HeteroData): the graph it was trained on.
        meta (dict): the graph's ``meta.json``.
        device (str or torch.device, optional): where scores are computed.
            (default: ``'cpu'``)
        graph (TrainGraph, optional): the model's training graph, if already built.

    Shapes:
        - **tables.item** :math:`[I, K, d]`, **tables.item_weights** :math:`[I, K, 3]`
        - :meth:`terms`: ``[B]`` users (, ``[M]`` items) → ``[B, M, K]`` (all items: ``M = I``)
        - :meth:`pair_terms`: ``[E]`` users, ``[E]`` items → ``[E, K]``
        - :meth:`top_k`: ``[B]`` → scores ``[B, k]``, items ``[B, k]``, terms ``[B, k, K]``
    """

    def __init__(self, model: nn.Module, data: HeteroData, meta: dict[str, Any],
                 device: str | torch.device = 'cpu', graph: TrainGraph | None = None):
        if not getattr(model, 'attribute_names', None) or not hasattr(model, 'num_chunks'):
            raise ConfigError(f'explanations need an AD-DRL model with attribute chunks '
                              f'(got {type(model).__name__})')
        self.device = torch.device(device)
        self.model = model.to(self.device).eval()
        self.data, self.meta = data, meta
        self.attribute_names: list[str] = list(model.attribute_names)
        self.chunk_names = chunk_names(self.attribute_names, model.num_chunks)
        graph = graph if graph is not None else TrainGraph.from_data(data, meta)
        self.graph = graph.to(self.device)
        self.tables = model.tables(self.graph)
        self.seen = UserItems(data, (TRAIN, VALID))
        self._user_index = {u: i for i, u in enumerate(meta['users'])}
        self._item_index = {a: i for i, a in enumerate(meta['items'])}
        self.num_items = len(meta['items'])
        self.catalog = ItemCatalog.from_meta(meta)

    @classmethod
    def from_run(cls, run_dir: str | Path, checkpoint: str = 'best',
                 data_dir: str | Path | None = None,
                 device: str | torch.device = 'cpu') -> 'Explainer':
        """Load a training run's model (``best`` or ``last``) and its graph."""
        from addrl_graph.training.runs import load_run_model, read_run_config

        data, meta = load_graph(data_dir or read_run_config(run_dir)['data'])
        graph = TrainGraph.from_data(data, meta)
        model, _ = load_run_model(run_dir, checkpoint, data, meta, device=device, graph=graph)
        return cls(model, data, meta, device, graph)

    # ------------------------------------------------------------------ ids
    def user_index(self, users: str | Iterable[str]) -> Tensor:
        """Dump ids (``reviewerID``) → ``[B]`` user indices; unknown ids raise
        :class:`ConfigError` naming them."""
        return _lookup(self._user_index, users, 'user')

    def item_index(self, items: str | Iterable[str]) -> Tensor:
        """Dump ids (``asin``) → ``[M]`` item indices."""
        return _lookup(self._item_index, items, 'item')

    def control_vector(self, control: Mapping[str, float] | None) -> Tensor:
        """``{chunk name: xi}`` → ``[K]`` weights of Eq. 14 (1 for unnamed chunks)."""
        xi = torch.ones(len(self.chunk_names), device=self.device)
        for name, value in (control or {}).items():
            if name not in self.chunk_names:
                raise ConfigError(f'control names attribute {name!r}, which this model does '
                                  f'not have (attributes: {self.chunk_names})')
            if not (math.isfinite(float(value)) and abs(float(value)) <= XI_LIMIT):
                raise ConfigError(f'control of {name!r} must be a finite xi in '
                                  f'[-{XI_LIMIT:g}, {XI_LIMIT:g}] (got {value!r})')
            xi[self.chunk_names.index(name)] = float(value)
        return xi

    def value_name(self, attribute: int, value: int) -> str:
        return str(self.meta['attributes'][attribute]['values'][value])

    def item_values(self, item: int) -> dict[str, str]:
        """The value name of every attribute of item index ``item``."""
        attr = self.data['item'].attr[item].tolist()
        return {name: self.value_name(a, v) for a, (name, v) in
                enumerate(zip(self.attribute_names, attr))}

    # ------------------------------------------------------------------ scores
    @torch.no_grad()
    def terms(self, users: Tensor, items: Tensor | None = None) -> Tensor:
        """Eq. 11 terms :math:`s(u, i, k)` of ``[B]`` users with ``[M]`` items (default: all):
        ``[B, M, K]``."""
        return self.tables.score_terms(users, items)

    @torch.no_grad()
    def user_baseline(self, users: Tensor) -> Tensor:
        """Mean Eq. 11 term of every chunk over all items, for ``[B]`` users: ``[B, K]``.
        Subtracting it from a user's terms (the *lift*) leaves their ranking unchanged."""
        return torch.cat([self.terms(users[start:start + USER_BLOCK]).mean(1)
                          for start in range(0, users.numel(), USER_BLOCK)])

    @torch.no_grad()
    def pair_terms(self, users: Tensor, items: Tensor) -> Tensor:
        """Eq. 11 terms of aligned pairs: ``[E]`` users, ``[E]`` items → ``[E, K]``."""
        return self.tables.pair_terms(users, items)

    def seen_mask(self, users: Tensor) -> Tensor:
        """``[B, I]`` bool: the training and validation items of each of ``[B]`` users."""
        return self.seen.mask(users).to(self.device)

    @torch.no_grad()
    def top_k(self, users: Tensor, k: int = 20, control: Mapping[str, float] | None = None,
              exclude_seen: bool = True) -> tuple[Tensor, Tensor, Tensor]:
        """Rank all items by the controlled score (Eq. 14) for ``[B]`` user indices.

        Returns:
            ``(scores [B, k], items [B, k], terms [B, k, K])``; a slot is ``-inf`` / ``-1``
            where a user has fewer than ``k`` unseen items.
        """
        xi = self.control_vector(control)
        out = ([], [], [])
        for start in range(0, users.numel(), USER_BLOCK):
            batch = users[start:start + USER_BLOCK]
            mask = self.seen_mask(batch) if exclude_seen else None
            top, idx = self.tables.full_sort(batch, k, mask, xi)
            rows = batch.to(self.device).unsqueeze(1).expand_as(idx)
            terms = self.tables.pair_terms(rows.reshape(-1), idx.clamp(min=0).reshape(-1))
            out[0].append(top)
            out[1].append(idx)
            out[2].append(terms.view(*idx.shape, -1))
        return tuple(torch.cat(part) for part in out)  # type: ignore[return-value]


RunOrModel = Union[str, Path, Explainer, nn.Module]


def as_explainer(run_or_model: RunOrModel, data: HeteroData | None = None,
                 meta: dict[str, Any] | None = None) -> Explainer:
    """An :class:`Explainer` from a run folder, an explainer, or a model with its graph."""
    if isinstance(run_or_model, Explainer):
        return run_or_model
    if isinstance(run_or_model, (str, Path)):
        return Explainer.from_run(run_or_model)
    if data is None or meta is None:
        raise ConfigError('a model needs its graph: pass data= and meta= (or a run folder)')
    return Explainer(run_or_model, data, meta)


def recommend(run_or_model: RunOrModel, users: str | Iterable[str], k: int = 20,
              control: Mapping[str, float] | None = None, exclude_seen: bool = True,
              data: HeteroData | None = None,
              meta: dict[str, Any] | None = None) -> dict[str, list[Recommendation]]:
    """Top-``k`` items of each user under the controlled score of Eq. 14.

    Args:
        run_or_model: a run folder, an :class:`Explainer`, or a model (with ``data``, ``meta``).
        users: one ``reviewerID`` or several.
        k: list length, at most the number of items. (default: :obj:`20`)
        control: ``{attribute: xi}`` for any attributes (and ``others``); the rest keep
            :math:`\\xi = 1`. ``{'price': 2.0, 'popularity': 0.0}`` doubles price's influence
            and ignores popularity; a negative :math:`\\xi` turns a preference around.
        exclude_seen: leave out each user's training and validation items.

    Returns:
        ``{reviewerID: [Recommendation, ...]}`` in rank order.
    """
    ex = as_explainer(run_or_model, data, meta)
    ids = [users] if isinstance(users, str) else list(users)
    scores, items, terms = ex.top_k(ex.user_index(ids), k, control, exclude_seen)
    result: dict[str, list[Recommendation]] = {}
    for b, user in enumerate(ids):
        result[user] = [
            Recommendation(user, ex.meta['items'][int(i)], r + 1, float(s),
                           dict(zip(ex.chunk_names, t.tolist())), ex.catalog.title(int(i)),
                           ex.item_values(int(i)))
            for r, (s, i, t) in enumerate(zip(scores[b], items[b], terms[b])) if int(i) >= 0]
    return result


def explain(run_or_model: RunOrModel, user: str, item: str, data: HeteroData | None = None,
            meta: dict[str, Any] | None = None) -> Explanation:
    """The per-attribute terms (Eq. 11) and their lifts, per-chunk modality weights (Eq. 8),
    attribute values and the top attribute of one user–item pair (dump ids)."""
    ex = as_explainer(run_or_model, data, meta)
    u, i = ex.user_index(user), ex.item_index(item)
    all_terms = ex.terms(u)[0]                                               # [I, K]
    terms = all_terms[int(i)]
    lift = (terms - all_terms.mean(0)).tolist()
    weights = ex.tables.item_weights[int(i)].tolist()
    num_attrs = len(ex.attribute_names)
    top = (ex.attribute_names[max(range(num_attrs), key=lift.__getitem__)]
           if num_attrs else None)
    return Explanation(
        user, item, float(terms.sum()), dict(zip(ex.chunk_names, terms.tolist())),
        {name: dict(zip(MODALITIES, w)) for name, w in zip(ex.chunk_names, weights)},
        ex.item_values(int(i)), dict(zip(ex.chunk_names, lift)), top, ex.catalog.title(int(i)))


def _lookup(index: dict[str, int], ids: str | Iterable[str], kind: str) -> Tensor:
    ids = [ids] if isinstance(ids, str) else list(ids)
    unknown = [x for x in ids if x not in index]
    if unknown:
        id_name = 'reviewerID' if kind == 'user' else 'asin'
        shown = ', '.join(repr(x) for x in unknown[:5]) + (' …' if len(unknown) > 5 else '')
        raise ConfigError(f'unknown {kind} id {shown}: not a {id_name} of this graph '
                          f'({len(index)} {kind}s)')
    return torch.tensor([index[x] for x in ids], dtype=torch.long)
