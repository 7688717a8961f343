r"""A trained run loaded once for serving, and the answers the service gives about it.

:class:`ServedRun` verifies the run's checkpoint checksums (every manifest in the folder, not
only the one it loads) and refuses the run if any fails, rebuilds the model, computes its
ranking tables (:class:`~addrl_graph.nn.scoring.ChunkTables`, with the kernel's item layout)
and each user's training and validation items once. A request then costs one read of the item
table: :meth:`ChunkTables.user_terms` gives one user's Eq. 11 terms with every item,
``[K, I]``, from which come the controlled scores (Eq. 14, :meth:`ChunkTables.sum_terms`), the
``k`` best items, their terms and the user's mean term of every chunk (the *lift* baseline of
:meth:`~addrl_graph.explain.explainer.Explainer.user_baseline`), so the lists equal the
explainer's (``tests/addrl_graph/test_serve.py``). :meth:`ChunkTables.full_sort` per request
would give the scores only, and the lifts would need a second pass.

Any model of the library is served. AD-DRL's scores split into one term per attribute chunk,
which control (Eq. 14, :math:`\xi` per chunk) rescales; a baseline has no attribute chunks, so
its answers carry ``per_attribute_terms: false``, a note saying so, and no terms, and a
``control`` is refused for it.

Requests never name files: ids are looked up in the graph's id maps and nothing else. Errors a
request can cause are :class:`UnknownId` (the service answers 404) and :class:`BadParameter`
(422, naming the parameter). The id maps and seen-item lists are read-only after start, so
requests may run in parallel threads.

Shapes legend: ``U`` users, ``I`` items, ``K`` chunks, ``A`` attributes, ``k`` list length.
"""
from __future__ import annotations

import math
import random
from pathlib import Path
from typing import Any, Mapping

import torch
from torch import Tensor
from torch_geometric.data import HeteroData

from addrl_graph.data.catalog import ItemCatalog
from addrl_graph.data.schema import TRAIN, VALID, attribute_names, load_graph
from addrl_graph.data.seen import UserItems
from addrl_graph.data.train_graph import TrainGraph
from addrl_graph.errors import AddrlError, CheckpointError
from addrl_graph.explain.explainer import Explainer, explain
from addrl_graph.explain.explainer import parse_control as explainer_parse_control
from addrl_graph.nn.scoring import ChunkTables
from addrl_graph.training.runs import load_run_model, read_run_config, verify_checkpoint

#: Longest list a request may ask for (and never more than the number of items).
MAX_K = 100
#: The documented range of a control weight :math:`\xi` (the paper's, Sec. 4.5): -1 turns an
#: attribute's preference around, 0 ignores it, 1 is the trained model, 2 doubles it.
XI_MIN, XI_MAX = -1.0, 2.0
#: Most users in one ``POST /recommendations``.
MAX_BATCH_USERS = 100
#: Most user ids one search returns.
MAX_SEARCH = 100
CHECKPOINTS = ('best', 'last')


class UnknownId(AddrlError):
    """A user or item id the graph does not have (HTTP 404)."""

    def __init__(self, kind: str, value: str):
        super().__init__(f'unknown {kind} {value!r}: no such id in this graph')
        self.kind, self.value = kind, value


class BadParameter(AddrlError):
    """A request parameter out of its documented form or range (HTTP 422)."""

    def __init__(self, parameter: str, message: str):
        super().__init__(f'{parameter}: {message}')
        self.parameter, self.message = parameter, message


def parse_control(text: str | None) -> dict[str, float]:
    """``'price:2,brand:0'`` → ``{'price': 2.0, 'brand': 0.0}`` (``=`` also separates).

    Raises:
        BadParameter: a pair without a name or a number (names are checked by the run).
    """
    try:
        return explainer_parse_control(text, separators=':=')
    except ValueError as e:
        raise BadParameter('control', f'expected name:xi pairs separated by commas, e.g. '
                                      f'price:2,brand:0 (got {e.args[0]!r})') from None


def verify_checkpoints(run_dir: Path) -> list[str]:
    """Check the sha256 of every checkpoint of ``run_dir`` (:data:`CHECKPOINTS` whose manifest
    exists) against its weights file; return the names checked.

    Raises:
        CheckpointError: a weights file is missing or differs from its manifest's checksum.
    """
    names = [name for name in CHECKPOINTS if (run_dir / f'{name}.json').is_file()]
    for name in names:
        verify_checkpoint(run_dir, name)
    return names


class GraphIndex:
    """A graph's id maps, item descriptions and each user's seen items, for look-ups.

    Args:
        data: the graph.
        meta: its ``meta.json``.

    Shapes:
        - **item_attr** :math:`[I, A]`; :meth:`seen_items`: user index → ``[P]``
    """

    def __init__(self, data: HeteroData, meta: dict[str, Any]):
        self.meta = meta
        self.attributes = attribute_names(meta)
        self.item_attr = data['item'].attr.cpu()
        self.catalog = ItemCatalog.from_meta(meta)
        self.users, self.items = list(meta['users']), list(meta['items'])
        self._user_index = {u: i for i, u in enumerate(self.users)}
        self._item_index = {a: i for i, a in enumerate(self.items)}
        seen = UserItems(data, (TRAIN, VALID))
        self._seen_ptr = torch.searchsorted(seen.user, torch.arange(len(self.users) + 1))
        self._seen_item = seen.item

    def user_index(self, user: str) -> int:
        if user not in self._user_index:
            raise UnknownId('user', user)
        return self._user_index[user]

    def item_index(self, item: str) -> int:
        if item not in self._item_index:
            raise UnknownId('item', item)
        return self._item_index[item]

    def seen_items(self, u: int) -> Tensor:
        """``[P]`` training and validation items of user index ``u``."""
        return self._seen_item[self._seen_ptr[u]:self._seen_ptr[u + 1]]

    def item_info(self, i: int) -> dict[str, Any]:
        """An item's id, title, label, image URL and attribute value names."""
        values = self.item_attr[i].tolist()
        return {'item': self.items[i], 'title': self.catalog.title(i),
                'label': self.catalog.label(i), 'image_url': self.catalog.image_url(i),
                'values': {name: str(spec['values'][v]) for name, spec, v
                           in zip(self.attributes, self.meta['attributes'], values)}}

    def search_users(self, query: str = '', limit: int = 20,
                     random_pick: bool = False) -> dict[str, Any]:
        """User ids containing ``query`` (first ``limit``), or ``limit`` random ones."""
        if not 1 <= limit <= MAX_SEARCH:
            raise BadParameter('limit', f'must be between 1 and {MAX_SEARCH} (got {limit})')
        if random_pick:
            return {'total': len(self.users),
                    'users': random.sample(self.users, min(limit, len(self.users)))}
        found = [u for u in self.users if query in u]
        return {'total': len(found), 'users': found[:limit]}

    def user(self, user: str) -> dict[str, Any]:
        """A user's training and validation items (the history the model learned from)."""
        u = self.user_index(user)
        history = [self.item_info(int(i)) for i in self.seen_items(u)]
        return {'user': user, 'num_items': len(history), 'history': history}


class ServedRun(GraphIndex):
    """A run's model, graph, tables and id maps, ready to answer requests.

    Args:
        run_dir: the training run folder.
        checkpoint: ``best`` or ``last``.
        data_dir: the graph folder (default: the one the run's ``config.json`` names).
        device: where scores are computed.

    Shapes:
        - **tables.user** :math:`[U, K, d]`, **tables.item** :math:`[I, K, d]`
    """

    def __init__(self, run_dir: str | Path, checkpoint: str = 'best',
                 data_dir: str | Path | None = None, device: str | torch.device = 'cpu'):
        self.run_dir = Path(run_dir)
        config = read_run_config(self.run_dir)
        self.verified = verify_checkpoints(self.run_dir)
        if checkpoint not in self.verified:
            raise CheckpointError(f'no checkpoint {checkpoint!r} in {self.run_dir}')
        data, meta = load_graph(data_dir or config['data'])
        super().__init__(data, meta)
        graph = TrainGraph.from_data(data, meta)
        model, info = load_run_model(self.run_dir, checkpoint, data, self.meta, device=device,
                                     graph=graph)
        self.model_name, self.checkpoint = str(config['train']['model']), checkpoint
        self.epoch = info.get('epoch')
        self.explainer = (Explainer(model, data, self.meta, device, graph)
                          if getattr(model, 'attribute_names', None) else None)
        with torch.no_grad():
            self.tables = (self.explainer.tables if self.explainer is not None
                           else model.tables(graph.to(device)))
        self.chunks = (self.explainer.chunk_names if self.explainer is not None else [])
        self.tables.item_layout  # the kernel's item layout, once, before any request

    # ------------------------------------------------------------------ look-ups
    @property
    def per_attribute_terms(self) -> bool:
        return self.explainer is not None

    @property
    def note(self) -> str | None:
        if self.per_attribute_terms:
            return None
        return (f'{self.model_name} has no per-attribute terms: scores only, no explanation '
                'by attribute, and no control (those need an AD-DRL run)')

    def attribute_table(self) -> dict[str, Any]:
        return {'attributes': [{'name': a['name'], 'values': [str(v) for v in a['values']],
                                'controllable': a['name'] in self.chunks}
                               for a in self.meta['attributes']],
                'chunks': self.chunks, 'xi_min': XI_MIN, 'xi_max': XI_MAX,
                'per_attribute_terms': self.per_attribute_terms, 'note': self.note}

    def health(self) -> dict[str, Any]:
        return {'status': 'ok', 'run': self.run_dir.name, 'model': self.model_name,
                'checkpoint': self.checkpoint, 'epoch': self.epoch,
                'checkpoints_verified': self.verified, 'num_users': len(self.users),
                'num_items': len(self.items), 'per_attribute_terms': self.per_attribute_terms}

    # ------------------------------------------------------------------ ranking
    def user_terms(self, u: int) -> Tensor:
        """``[K, I]`` Eq. 11 terms of user index ``u`` with every item."""
        return self.tables.user_terms(torch.tensor([u]))[0]

    def control_vector(self, control: Mapping[str, float] | None,
                       parameter: str = 'control') -> Tensor | None:
        """``{chunk name: xi}`` → ``[K]`` weights (1 where unnamed); :obj:`None` without
        control. Raises :class:`BadParameter` naming ``parameter``."""
        if not control:
            return None
        if not self.per_attribute_terms:
            raise BadParameter(parameter, self.note or '')
        for name, value in control.items():
            if name not in self.chunks:
                raise BadParameter(parameter, f'unknown attribute {name!r} (this model has '
                                              f'{", ".join(self.chunks)})')
            if not (math.isfinite(value) and XI_MIN <= value <= XI_MAX):
                raise BadParameter(parameter, f'xi of {name!r} must be a number in '
                                              f'[{XI_MIN:g}, {XI_MAX:g}] (got {value!r})')
        return self.explainer.control_vector(control)

    def check_k(self, k: int) -> None:
        top = min(MAX_K, len(self.items))
        if not 1 <= k <= top:
            raise BadParameter('k', f'must be between 1 and {top} (got {k})')

    @torch.no_grad()
    def recommend(self, user: str, k: int = 20, control: Mapping[str, float] | None = None,
                  exclude_seen: bool = True, parameter: str = 'control') -> dict[str, Any]:
        """The ``k`` best items of one user under the controlled score (Eq. 14), each with
        its title, values, score and (AD-DRL) per-attribute terms and lifts."""
        self.check_k(k)
        xi = self.control_vector(control, parameter)
        u = self.user_index(user)
        terms = self.user_terms(u)                                            # [K, I]
        scores = self.tables.sum_terms(terms, xi)                             # [I]
        if exclude_seen:
            scores[self.seen_items(u).to(scores.device)] = float('-inf')
        scores, items = scores.topk(k)
        keep = scores > float('-inf')
        scores, items = scores[keep], items[keep]
        listed = []
        if self.per_attribute_terms:
            lift = (terms[:, items] - terms.mean(dim=1, keepdim=True)).t().tolist()  # [k, K]
            terms = terms[:, items].t().tolist()
        for r, (s, i) in enumerate(zip(scores.tolist(), items.tolist())):
            entry = dict(self.item_info(i), rank=r + 1, score=s, terms=None, lift=None)
            if self.per_attribute_terms:
                entry['terms'] = dict(zip(self.chunks, terms[r]))
                entry['lift'] = dict(zip(self.chunks, lift[r]))
            listed.append(entry)
        return {'user': user, 'model': self.model_name, 'k': k, 'control': dict(control or {}),
                'exclude_seen': exclude_seen, 'per_attribute_terms': self.per_attribute_terms,
                'note': self.note, 'items': listed}

    @torch.no_grad()
    def explain(self, user: str, item: str) -> dict[str, Any]:
        """Why ``user`` scores ``item`` as it does: Eq. 11 terms, lifts, Eq. 8 modality
        weights, values and the top attribute (AD-DRL), or the plain score (baselines)."""
        u, i = self.user_index(user), self.item_index(item)
        out = dict(self.item_info(i), user=user, model=self.model_name,
                   per_attribute_terms=self.per_attribute_terms, note=self.note, terms=None,
                   lift=None, modality_weights=None, top_attribute=None)
        if not self.per_attribute_terms:
            out['score'] = float(self.tables.sum_terms(self.user_terms(u))[i])
            return out
        e = explain(self.explainer, user, item)
        out.update(score=e.score, terms=e.terms, lift=e.lift, top_attribute=e.top_attribute,
                   modality_weights=e.modality_weights)
        return out


__all__ = ['ServedRun', 'GraphIndex', 'UnknownId', 'BadParameter', 'parse_control', 'verify_checkpoints',
           'MAX_K', 'XI_MIN', 'XI_MAX', 'MAX_BATCH_USERS', 'MAX_SEARCH']
