r"""AD-DRL training objective (Eq. 3-7, 10, 12-13), one function per term.

.. math::
    \mathcal{L} = \mathcal{L}_{BPR} + \lambda \mathcal{L}_{2} + \alpha\, l_{intra}
    + \beta\, l_{inter} + \gamma\, l_{low}

The BPR term is summed over the batch (``config.bpr_reduction='sum'``, the authors' code and
Eq. 12) or averaged (``'mean'``); the embedding L2 term is divided by the batch size, and every
auxiliary term is summed over chunks (Eq. 4, 6, 10) and averaged over rows, as in the authors'
code. With ``'sum'`` the ranking gradient is about the batch size times larger relative to the
auxiliary terms, so the loss weights :math:`\alpha, \beta, \gamma, \lambda` of one
reduction do not carry over to the other. The auxiliary terms use each unique item of a batch
once, where the authors' code adds a term over the positives and one over the negatives: their
``alpha``, ``beta`` and ``gamma`` therefore weigh about twice what the same numbers weigh here.

Shapes legend: ``B`` batch, ``M`` unique items in the batch, ``N`` negatives per positive,
``K`` chunks, ``d`` chunk width, ``A`` attributes.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from addrl_graph.loader.batch import TripletBatch
from addrl_graph.nn.config import LossConfig
from addrl_graph.nn.views import ItemChunks
from addrl_graph.distributed import DistContext
from addrl_graph.errors import ConfigError

TERMS = ('bpr', 'l2', 'intra', 'inter', 'low', 'total')


def _mean_rows(per_row: Tensor, mask: Tensor | None = None) -> Tensor:
    """Mean of ``per_row [M]`` over the rows where ``mask [M]`` is true; 0 when none is."""
    if mask is not None:
        per_row = per_row[mask]
    return per_row.sum() / max(per_row.numel(), 1)


def bpr_loss(pos: Tensor, neg: Tensor, negatives: str = 'each', reduction: str = 'mean') -> Tensor:
    r"""Eq. 12 BPR term :math:`-\log \phi(s_{u,i^+} - s_{u,i^-})`.

    Args:
        pos: ``[B]`` scores of the positives.
        neg: ``[B, N]`` scores of the negatives (``[B]`` is read as ``N = 1``).
        negatives: ``'each'`` averages the term over the :math:`N` negatives (paper);
            ``'hardest'`` uses the highest-scored negative only (authors' code).
        reduction: ``'mean'`` or ``'sum'`` over the batch.

    Returns:
        scalar (0 for an empty batch).
    """
    if neg.dim() == 1:
        neg = neg.unsqueeze(-1)
    if negatives == 'each':
        per_row = F.softplus(neg - pos.unsqueeze(-1)).mean(dim=-1)  # softplus(-x) = -log σ(x)
    elif negatives == 'hardest':
        per_row = F.softplus(neg.max(dim=-1).values - pos)
    else:
        raise ConfigError(f"bpr negatives must be 'each' or 'hardest' (got {negatives!r})")
    if reduction == 'sum':
        return per_row.sum()
    if reduction == 'mean':
        return _mean_rows(per_row)
    raise ConfigError(f"bpr reduction must be 'mean' or 'sum' (got {reduction!r})")


def l2_loss(*tensors: Tensor | None, batch_size: int) -> Tensor:
    r""":math:`\sum_t \lVert t \rVert_2^2 / (2B)`, the authors' form of :math:`\lVert\Theta
    \rVert_2^2` in Eq. 12 (on the embeddings a batch touches); ``None`` entries are skipped."""
    present = [t for t in tensors if t is not None]
    if not present:
        raise ValueError('l2_loss needs at least one tensor')
    return sum(t.pow(2).sum() for t in present) / (2 * max(batch_size, 1))


def intra_loss(chunks: Tensor, classifier: nn.Module, mask: Tensor | None = None) -> Tensor:
    r"""Eq. 3-4 intra-modality loss of one view: every chunk :math:`k` should be classified as
    chunk :math:`k`; cross entropy summed over the :math:`K` chunks (Eq. 4) and averaged over
    rows.

    Args:
        chunks: ``[M, K, d]`` chunks of one view (user ID, item ID, text or image).
        classifier: maps ``[..., d]`` to ``[..., K]`` logits (:math:`W_{intra}`, Eq. 3).
        mask: ``[M]`` bool, rows to use (items that have this view); all when :obj:`None`.

    Returns:
        scalar (0 when no row is used).
    """
    M, K = chunks.shape[:2]
    logits = classifier(chunks)                                          # [M, K, K]
    target = torch.arange(K, device=chunks.device).repeat(M)
    per_row = F.cross_entropy(logits.reshape(M * K, -1), target, reduction='none')
    return _mean_rows(per_row.view(M, K).sum(dim=1), mask)


def inter_loss(a: Tensor, b: Tensor, tau: float = 1.0, mask: Tensor | None = None) -> Tensor:
    r"""Eq. 6 symmetric InfoNCE between two views of the same rows: chunk :math:`k` of ``a``
    should match chunk :math:`k` of ``b`` among the :math:`K` chunks of ``b``, and vice versa;
    :math:`l_{a \leftrightarrow b} = \sum_k l^k_{a \to b} + \sum_k l^k_{b \to a}`, averaged over
    rows.

    Args:
        a: ``[M, K, d]`` chunks of one view.
        b: ``[M, K, d]`` chunks of another view of the same rows.
        tau: temperature :math:`\tau`.
        mask: ``[M]`` bool, rows that have both views; all when :obj:`None`.

    Returns:
        scalar (0 when no row is used).
    """
    M, K = a.shape[:2]
    logits = a @ b.transpose(1, 2) / tau                   # [M, K, K]: logits[m, k, n] = a_k·b_n
    target = torch.arange(K, device=a.device).repeat(M)
    a_to_b = F.cross_entropy(logits.reshape(M * K, K), target, reduction='none')
    b_to_a = F.cross_entropy(logits.transpose(1, 2).reshape(M * K, K), target, reduction='none')
    return _mean_rows((a_to_b + b_to_a).view(M, K).sum(dim=1), mask)


def low_loss(fused: Tensor, attr: Tensor, heads: nn.ModuleDict, names: list[str]) -> Tensor:
    r"""Eq. 10 low-level loss: the fused chunk of attribute :math:`k` predicts the item's value
    of that attribute; cross entropy averaged over rows, summed over attributes.

    Args:
        fused: ``[M, K, d]`` fused item chunks (chunk :math:`k < A` belongs to ``names[k]``).
        attr: ``[M, A]`` long attribute-value labels.
        heads: one classifier ``d → V_a`` per attribute name.
        names: the :math:`A` attribute names in column order.

    Returns:
        scalar.
    """
    total = fused.new_zeros(())
    for k, name in enumerate(names):
        logits = heads[name](fused[:, k])
        total = total + _mean_rows(F.cross_entropy(logits, attr[:, k], reduction='none'))
    return total


# ---------------------------------------------------------------------- the objective
def addrl_loss(model: nn.Module, user: Tensor, items: ItemChunks, batch: TripletBatch,
               config: LossConfig | None = None) -> tuple[Tensor, dict[str, float]]:
    r"""Eq. 13 on one batch: BPR + :math:`\lambda` L2 + :math:`\alpha` intra + :math:`\beta`
    inter + :math:`\gamma` low, with the switches of ``config``.

    Args:
        model: the :class:`addrl_graph.nn.model.ADDRL` whose chunks these are (its classifiers,
            attribute names and :meth:`~addrl_graph.nn.model.ADDRL.chunk_scores`).
        user: ``[B, K, d]`` ID chunks of the batch's users.
        items: the views of the batch's ``M`` unique items.
        batch: the triplets and their items' attribute labels.
        config: loss weights and switches; :obj:`None` uses ``model.config.loss``. A switch
            can only be on if the model was built with it (it owns the classifiers).

    Under data parallelism (``torch.distributed`` initialised, ``W`` processes) a summed BPR
    term is multiplied by ``W``: DDP averages the gradients of the ranks, so the step then
    follows the sum over the global batch, as one process would.

    Returns:
        ``(total, terms)``: the scalar to back-propagate and the unweighted value of every term
        (``bpr``, ``l2``, ``intra``, ``inter``, ``low``; 0 when switched off) plus ``total``.
    """
    config = config if config is not None else model.config.loss
    pos = model.chunk_scores(user, items.fused[batch.pos_index]).sum(dim=-1)    # [B]
    neg = model.chunk_scores(user, items.fused[batch.neg_index]).sum(dim=-1)    # [B, N]
    zero = pos.new_zeros(())
    terms = {
        'bpr': (bpr_loss(pos, neg, config.bpr_negatives, config.bpr_reduction)
                * (DistContext.current().world_size if config.bpr_reduction == 'sum' else 1)),
        'l2': _embedding_l2(user, items, batch) if config.l2 > 0 else zero,
        'intra': _intra_terms(model, user, items) if config.use_intra else zero,
        'inter': _inter_terms(items, config.tau) if config.use_inter else zero,
        'low': (low_loss(items.fused, batch.attr, _heads(model, 'low_heads', 'use_low'),
                         model.attribute_names)
                if config.use_low and model.attribute_names else zero),
    }
    total = (terms['bpr'] + config.l2 * terms['l2'] + config.alpha * terms['intra']
             + config.beta * terms['inter'] + config.gamma * terms['low'])
    values = torch.stack([t.detach() for t in terms.values()] + [total.detach()]).tolist()
    return total, dict(zip(TERMS, values))


def _heads(model: nn.Module, attribute: str, switch: str) -> nn.ModuleDict:
    heads = getattr(model, attribute)
    if heads is None:
        raise ConfigError(f'{switch} is on in the loss config but the model was built without '
                          f'it (model config {switch}={getattr(model.config, switch)})')
    return heads


def _embedding_l2(user: Tensor, items: ItemChunks, batch: TripletBatch) -> Tensor:
    """Authors' L2: user, positive and negative item ID embeddings and their projected
    text/image features (rows the item lacks excluded), divided by 2B."""
    views = [v for v in (items.id, items.text, items.image) if v is not None]  # missing: 0
    return l2_loss(user, *(v[index] for v in views
                           for index in (batch.pos_index, batch.neg_index)),
                   batch_size=batch.num_users)


def _intra_terms(model: nn.Module, user: Tensor, items: ItemChunks) -> Tensor:
    """Eq. 5: l_intra,u + l_intra,i + l_intra,t + l_intra,v over the views the model has."""
    heads = _heads(model, 'intra_heads', 'use_intra')
    loss = intra_loss(user, heads['user']) + intra_loss(items.id, heads['id'])
    for col, name in ((1, 'text'), (2, 'image')):
        view = getattr(items, name)
        if view is not None:
            loss = loss + intra_loss(view, heads[name], items.present[:, col])
    return loss


def _inter_terms(items: ItemChunks, tau: float) -> Tensor:
    """Eq. 7: l_i↔t + l_i↔v + l_t↔v over the pairs of views the model has, each on the rows
    that have both views."""
    views = {'id': items.id, 'text': items.text, 'image': items.image}
    present = dict(zip(('id', 'text', 'image'), items.present.unbind(dim=1)))
    loss = items.id.new_zeros(())
    for a, b in (('id', 'text'), ('id', 'image'), ('text', 'image')):
        if views[a] is not None and views[b] is not None:
            loss = loss + inter_loss(views[a], views[b], tau, present[a] & present[b])
    return loss
