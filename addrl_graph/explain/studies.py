r"""Studies of a trained AD-DRL model: controllability (paper Fig. 5) and planted preferences.

* :func:`value_shares` / :func:`control_study`: how the share of each value of an attribute
  among users' top-:math:`k` lists moves as :math:`\xi` of that attribute (Eq. 14) goes through
  :data:`XIS`.
* :func:`planted_recovery`: on synthetic data with known preferences (``ground_truth.json`` of
  :mod:`data_builders.synthetic`), does the attribute with the largest mean term over a user's
  held-out items (Eq. 11) name the attribute the user's preference was planted on?

Shapes legend: ``U`` users, ``I`` items, ``B`` batch, ``K`` chunks, ``A`` attributes,
``V_a`` values of attribute a, ``X`` values of :math:`\xi`.
"""
from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from typing import Any, Sequence

import torch
from torch import Tensor

from addrl_graph.data.catalog import is_catch_all, short_names
from addrl_graph.data.schema import TEST, split_edges
from addrl_graph.errors import ConfigError
from addrl_graph.explain.explainer import USER_BLOCK, Explainer

log = logging.getLogger(__name__)

#: The paper's values of :math:`\xi` (Sec. 4.5).
XIS = (2.0, 1.0, 0.5, 0.0, -1.0)


def attribute_index(ex: Explainer, attribute: str) -> int:
    if attribute not in ex.attribute_names:
        raise ConfigError(f'unknown attribute {attribute!r} (this model has '
                          f'{ex.attribute_names})')
    return ex.attribute_names.index(attribute)


def value_shares(ex: Explainer, users: Tensor, attribute: str, xis: Sequence[float] = XIS,
                 k: int = 20) -> Tensor:
    r"""Share of each value of ``attribute`` in every user's top-``k`` list, per :math:`\xi`.

    Args:
        ex: the model and its graph.
        users: ``[B]`` user indices.
        attribute: the attribute whose :math:`\xi` varies (and whose values are counted).
        xis: values of :math:`\xi`. (default: :data:`XIS`)
        k: list length. (default: :obj:`20`)

    The Eq. 11 terms of a block of users are computed once and every :math:`\xi` reweighs
    them (Eq. 14).

    Returns:
        ``[X, B, V_a]``, each row summing to 1 (seen items excluded from the lists).
    """
    if not 1 <= k <= ex.num_items:
        raise ConfigError(f'k must be between 1 and the number of items ({ex.num_items}) '
                          f'(got {k})')
    a = attribute_index(ex, attribute)
    attr = ex.data['item'].attr[:, a].to(ex.device)
    num_values = len(ex.meta['attributes'][a]['values'])
    controls = torch.stack([ex.control_vector({attribute: xi}) for xi in xis])   # [X, K]
    shares = []
    for start in range(0, users.numel(), USER_BLOCK):
        batch = users[start:start + USER_BLOCK]
        terms = ex.terms(batch)                         # [B, I, K], the same for every xi
        seen = ex.seen_mask(batch)
        counts = torch.zeros(len(xis), batch.numel(), num_values, device=ex.device)
        for x, xi in enumerate(controls):
            top, items = (terms @ xi).masked_fill(seen, float('-inf')).topk(k, dim=1)
            valid = top > float('-inf')
            counts[x].scatter_add_(1, attr[items] * valid, valid.float())
        shares.append(counts / counts.sum(2, keepdim=True).clamp(min=1))
    return torch.cat(shares, dim=1)


def history_shares(ex: Explainer, attribute: str) -> Tensor:
    """``[U, V_a]`` share of each value of ``attribute`` among every user's training items."""
    a = attribute_index(ex, attribute)
    row, col = ex.graph.edge_index.cpu()  # the TRAIN edges
    num_values = len(ex.meta['attributes'][a]['values'])
    counts = torch.zeros(ex.data['user'].num_nodes, num_values)
    counts.index_put_((row, ex.data['item'].attr[col, a]), torch.ones(row.numel()),
                      accumulate=True)
    return counts / counts.sum(1, keepdim=True).clamp(min=1)


@dataclass
class ControlStudy:
    """Result of :func:`control_study` (paper Fig. 5).

    Attributes:
        attribute / value: the attribute whose :math:`\\xi` varies and the value the chosen
            users' histories lean to (never a catch-all ``unknown`` / ``other`` unless asked
            for by name).
        values: names of the attribute's values (columns of ``shares``).
        xis: the :math:`\\xi` values (rows of ``shares``).
        users: ``reviewerID`` of the chosen users.
        shares: ``[X][V_a]`` mean share of each value in the users' top-``k`` lists.
        k: list length.
    """
    attribute: str
    value: str
    values: list[str]
    xis: list[float]
    users: list[str]
    shares: list[list[float]]
    k: int

    @property
    def preferred_share(self) -> list[float]:
        """Share of :attr:`value` in the lists, per :math:`\\xi`."""
        column = self.values.index(self.value)
        return [row[column] for row in self.shares]

    def summary(self, others: int = 5) -> tuple[list[str], list[list[float]], int]:
        """The leaned-to value, the ``others`` values with the largest mean share over the
        :math:`\\xi` rows (ties in value order), and the rest summed.

        Returns:
            ``(names, shares [X][C], rest)``: ``names`` of the ``1 + min(others, V_a - 1)``
            kept values, leaned-to first; ``shares`` has one more column, the sum of the
            ``rest`` remaining values, when ``rest > 0``.
        """
        if others < 0:
            raise ConfigError(f'others must be >= 0 (got {others})')
        shares = torch.tensor(self.shares, dtype=torch.float64)               # [X, V_a]
        lean = self.values.index(self.value)
        order = [j for j in shares.mean(0).argsort(descending=True, stable=True).tolist()
                 if j != lean]
        keep, rest = [lean] + order[:others], order[others:]
        columns = shares[:, keep]
        if rest:
            columns = torch.cat([columns, shares[:, rest].sum(1, keepdim=True)], 1)
        return [self.values[j] for j in keep], columns.tolist(), len(rest)

    def to_dict(self) -> dict[str, Any]:
        return dict(asdict(self), preferred_share=self.preferred_share)


def study_table(study: ControlStudy, others: int = 5,
                width: int = 16) -> tuple[list[str], list[list[str]]]:
    """:meth:`ControlStudy.summary` as a table: a header (``xi``, the kept values' names,
    ``rest (n)``) and one row of percentages per :math:`\\xi`.

    Names are shortened to ``width`` by :func:`~addrl_graph.data.catalog.short_names` over
    *all* the attribute's values, so no header reads like another value's name.
    """
    names, shares, rest = study.summary(others)
    short = dict(zip(study.values, short_names(study.values, width)))
    head = ['xi'] + [short[n] for n in names] + ([f'rest ({rest})'] if rest else [])
    rows = [[f'{xi:g}'] + [f'{s:.1%}' for s in row] for xi, row in zip(study.xis, shares)]
    return head, rows


def control_study(ex: Explainer, attribute: str, value: str | None = None,
                  xis: Sequence[float] = XIS, k: int = 20, num_users: int = 100,
                  min_lean: float = 0.5) -> ControlStudy:
    r"""Paper Fig. 5: users whose history leans to one value of ``attribute``; share of each
    value among their top-``k`` as :math:`\xi` varies.

    The users are the ``num_users`` with the largest share of ``value`` among their training
    items, among those with a share of at least ``min_lean``.

    Args:
        ex: the model and its graph.
        attribute: e.g. ``'price'``.
        value: the value name (e.g. a price level); ``None`` picks the value with the most
            leaning users among those that are not a catch-all (``unknown``, ``other``:
            missing, or too rare a brand to be its own class, so no preference).
        xis, k: see :func:`value_shares`.
        num_users: at most this many users. (default: :obj:`100`)
        min_lean: least share of ``value`` in a chosen user's history. (default: :obj:`0.5`)
    """
    a = attribute_index(ex, attribute)
    names = [str(v) for v in ex.meta['attributes'][a]['values']]
    history = history_shares(ex, attribute)
    leaning = (history >= min_lean).sum(0)
    if value is None:
        known = [j for j, name in enumerate(names) if not is_catch_all(name)]
        column = max(known, key=lambda j: int(leaning[j]))
        value = names[column]
    elif value not in names:
        raise ConfigError(f'{attribute} has no value {value!r} (values: {names})')
    column = names.index(value)
    lean = history[:, column]
    order = torch.argsort(lean, descending=True)
    users = order[lean[order] >= min_lean][:num_users]
    if users.numel() == 0:
        raise ConfigError(f'no user has at least {min_lean:.0%} of their training items with '
                          f'{attribute} = {value!r}; lower min_lean or pick another value')
    log.info('control study: %d users leaning to %s = %s', users.numel(), attribute, value)
    shares = value_shares(ex, users, attribute, xis, k).mean(1)
    return ControlStudy(attribute, value, names, [float(x) for x in xis],
                        [ex.meta['users'][int(u)] for u in users], shares.tolist(), k)


# ---------------------------------------------------------------------- planted preferences
def planted_preferences(ex: Explainer, ground_truth: dict[str, Any]) -> dict[int, tuple[int, int]]:
    """Users' planted ``(attribute index, value index)`` from a synthetic ``ground_truth.json``.

    Brand and category values match by name; price band ``b`` is price level ``b`` (equal-count,
    non-overlapping bands); the planted popularity (the top band) is the highest popularity
    level. Users whose attribute or value the graph lacks are left out.
    """
    out: dict[int, tuple[int, int]] = {}
    user_index = {u: i for i, u in enumerate(ex.meta['users'])}
    for user, truth in ground_truth['users'].items():
        if user not in user_index or truth['attribute'] not in ex.attribute_names:
            continue
        a = ex.attribute_names.index(truth['attribute'])
        names = [str(v) for v in ex.meta['attributes'][a]['values']]
        known = [j for j, name in enumerate(names) if not is_catch_all(name)]
        if truth['attribute'] == 'popularity':
            value = known[-1]
        elif truth['attribute'] == 'price':
            value = known[int(truth['value'])] if int(truth['value']) < len(known) else None
        else:
            value = names.index(str(truth['value'])) if str(truth['value']) in names else None
        if value is not None:
            out[user_index[user]] = (a, value)
    return out


def mean_heldout_terms(ex: Explainer, split: int = TEST) -> tuple[Tensor, Tensor]:
    """Mean Eq. 11 term of every chunk over each user's held-out items of ``split``.

    Returns:
        ``(users [B], terms [B, K])`` for the users with a held-out item.
    """
    row, col = split_edges(ex.data, split)
    users, position = torch.unique(row, return_inverse=True)
    terms = ex.pair_terms(row, col).cpu()
    sums = torch.zeros(users.numel(), terms.size(1)).index_add_(0, position, terms)
    counts = torch.bincount(position, minlength=users.numel()).clamp(min=1)
    return users, sums / counts.unsqueeze(1)


def _recovery_confusion(ex: Explainer, planted: dict[int, tuple[int, int]], users: Tensor,
                        terms: Tensor) -> Tensor:
    """``[A, A]`` counts of (planted attribute, attribute with the largest term)."""
    A = len(ex.attribute_names)
    confusion = torch.zeros(A, A, dtype=torch.long)
    for u, t in zip(users.tolist(), terms[:, :A].argmax(1).tolist()):
        if u in planted:
            confusion[planted[u][0], t] += 1
    return confusion


def planted_recovery(ex: Explainer, ground_truth: dict[str, Any],
                     split: int = TEST) -> dict[str, Any]:
    """Share of users whose largest mean attribute lift over their held-out items (Eq. 11
    terms minus the user's mean over all items, attribute chunks only) is the attribute of
    their planted preference.

    Returns:
        ``{'overall': share, 'overall_raw': share by raw terms, 'chance': 1 / A, 'users': n,
        'per_attribute': {a: {'users': n, 'share': s, 'share_raw': s}},
        'confusion': {planted: {argmax: n}}}`` (confusion of the lifts).
    """
    planted = planted_preferences(ex, ground_truth)
    users, raw = mean_heldout_terms(ex, split)
    lifted = raw - ex.user_baseline(users).cpu()
    confusion = _recovery_confusion(ex, planted, users, lifted)
    confusion_raw = _recovery_confusion(ex, planted, users, raw)
    total = int(confusion.sum())
    if total == 0:
        raise ConfigError('no user with a held-out item has a planted preference the graph '
                          'knows: is this the ground truth of this graph?')
    names, A = ex.attribute_names, len(ex.attribute_names)
    return {
        'overall': float(confusion.diag().sum()) / total,
        'overall_raw': float(confusion_raw.diag().sum()) / total,
        'chance': 1.0 / A, 'users': total,
        'per_attribute': {names[a]: {'users': int(row.sum()),
                                     'share': float(row[a] / row.sum()),
                                     'share_raw': float(confusion_raw[a, a] / row.sum())}
                          for a, row in enumerate(confusion) if int(row.sum())},
        'confusion': {names[a]: dict(zip(names, confusion[a].tolist())) for a in range(A)},
    }
