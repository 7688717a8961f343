"""Loss terms against hand-computed values, gradient routing, and a tiny overfit run."""
from __future__ import annotations

import math
from dataclasses import replace

import pytest
import torch
from torch import nn

from addrl_graph.loader.batch import TripletBatch
from addrl_graph.nn.config import ModelConfig
from addrl_graph.errors import ConfigError
from addrl_graph.nn.losses import (addrl_loss, bpr_loss, inter_loss, intra_loss,
                                l2_loss, low_loss)
from addrl_graph.data.train_graph import TrainGraph
from addrl_graph.nn.model import ADDRL
from addrl_graph.testing import PAPER_MODEL

#: The paper's architecture (ID embeddings, one free chunk), which these tests check.
PAPER = PAPER_MODEL

SP1, SP_1, LN2 = math.log1p(math.e), math.log1p(math.exp(-1)), math.log(2)  # softplus(±1), ln 2


pytestmark = pytest.mark.usefixtures('one_thread')


def close(actual: torch.Tensor, expected: float) -> None:
    assert float(actual.detach()) == pytest.approx(expected, abs=1e-5)


def linear(weight, bias=None) -> nn.Linear:
    weight = torch.tensor(weight, dtype=torch.float)
    layer = nn.Linear(weight.size(1), weight.size(0))
    with torch.no_grad():
        layer.weight.copy_(weight)
        layer.bias.copy_(torch.zeros(weight.size(0)) if bias is None else torch.tensor(bias))
    return layer


# ---------------------------------------------------------------------- each term by hand
def test_bpr_each_and_hardest():
    pos = torch.tensor([2.0, 0.0])
    neg = torch.tensor([[1.0, 3.0], [0.0, 0.0]])
    # 'each': row 0 = (softplus(1-2) + softplus(3-2)) / 2 = (SP_1 + SP1) / 2; row 1 = ln 2
    each = [(SP_1 + SP1) / 2, LN2]
    close(bpr_loss(pos, neg, 'each'), sum(each) / 2)
    close(bpr_loss(pos, neg, 'each', reduction='sum'), sum(each))
    # 'hardest': row 0 uses max(1, 3) = 3 -> softplus(1); row 1 -> ln 2
    close(bpr_loss(pos, neg, 'hardest'), (SP1 + LN2) / 2)
    close(bpr_loss(pos, neg[:, 0], 'each'), (SP_1 + LN2) / 2)       # [B] negatives = N of 1
    close(bpr_loss(pos[:0], neg[:0], 'each'), 0.0)                  # empty batch
    with pytest.raises(ConfigError, match="got 'all'"):
        bpr_loss(pos, neg, 'all')


def test_l2_is_sum_of_squares_over_twice_the_batch():
    # (1² + 2² + 3²) / (2 · 2) = 14 / 4
    close(l2_loss(torch.tensor([1.0, 2.0]), None, torch.tensor([[3.0]]), batch_size=2), 3.5)


def test_intra_sums_chunks_and_averages_rows():
    clf = linear([[1, 0], [0, 1]])                                  # logits = the chunk itself
    chunks = torch.tensor([[[1.0, 0.0], [0.0, 1.0]],                # row 0: chunks in place
                           [[0.0, 1.0], [1.0, 0.0]]])               # row 1: chunks swapped
    # row 0: each chunk has logits with +1 on its own index: CE = softplus(-1), twice
    # row 1: each chunk has +1 on the wrong index:          CE = softplus(+1), twice
    close(intra_loss(chunks, clf), (2 * SP_1 + 2 * SP1) / 2)
    close(intra_loss(chunks, clf, mask=torch.tensor([True, False])), 2 * SP_1)
    close(intra_loss(chunks, clf, mask=torch.tensor([False, False])), 0.0)


def test_inter_is_symmetric_infonce_over_chunks():
    a = torch.tensor([[[1.0, 0.0], [0.0, 1.0]]])
    b = torch.tensor([[[2.0, 0.0], [0.0, 0.0]]])
    # a_k·b_n = [[2, 0], [0, 0]] (symmetric here, so a→b equals b→a):
    # chunk 0: logits (2, 0), target 0 -> log(1 + e^-2); chunk 1: logits (0, 0) -> ln 2
    one_way = math.log1p(math.exp(-2)) + LN2
    close(inter_loss(a, b, tau=1.0), 2 * one_way)
    close(inter_loss(a, b, tau=2.0), 2 * (SP_1 + LN2))              # logits halved
    close(inter_loss(b, a, tau=1.0), 2 * one_way)
    rows = torch.cat([a, torch.randn(1, 2, 2)]), torch.cat([b, torch.randn(1, 2, 2)])
    close(inter_loss(*rows, mask=torch.tensor([True, False])), 2 * one_way)


def test_inter_asymmetric_directions_both_count():
    a = torch.tensor([[[1.0, 0.0], [1.0, 0.0]]])
    b = torch.tensor([[[1.0, 0.0], [0.0, 0.0]]])
    # a_k·b_n = [[1, 0], [1, 0]]. a→b: chunk 0 logits (1, 0) t=0 -> softplus(-1);
    # chunk 1 logits (1, 0) t=1 -> softplus(1). b→a uses the transpose [[1, 1], [0, 0]]:
    # chunk 0 logits (1, 1) -> ln 2; chunk 1 logits (0, 0) -> ln 2.
    close(inter_loss(a, b), SP_1 + SP1 + 2 * LN2)


def test_low_uses_chunk_k_for_attribute_k_and_sums_attributes():
    heads = nn.ModuleDict({'a': linear([[1, 0], [0, 0]]),
                           'b': linear([[1, 0], [0, 1], [0, 0]])})
    fused = torch.tensor([[[math.log(3), 0.0], [0.0, 0.0], [9.0, 9.0]]])   # third: free chunk
    attr = torch.tensor([[0, 2]])
    # a on chunk 0: logits (ln 3, 0), target 0 -> -log(3/4); b on chunk 1: logits 0 -> ln 3
    close(low_loss(fused, attr, heads, ['a', 'b']), math.log(4 / 3) + math.log(3))


# ---------------------------------------------------------------------- the objective
U, I, A_VALUES, D_T, D_V = 9, 12, [3, 4], 6, 5


def make(config: ModelConfig, image_dim: int = D_V) -> ADDRL:
    torch.manual_seed(0)
    return ADDRL(U, I, ['price', 'brand'], A_VALUES, D_T, image_dim, config)


def make_batch(B=4, N=3, image_dim=D_V, seed=0) -> TripletBatch:
    g = torch.Generator().manual_seed(seed)
    item_id = torch.randperm(I, generator=g)[:8]
    M = item_id.numel()
    return TripletBatch(
        user_id=torch.randint(0, U, (B,), generator=g), item_id=item_id,
        pos_index=torch.randint(0, M, (B,), generator=g),
        neg_index=torch.randint(0, M, (B, N), generator=g),
        x_text=torch.randn(M, D_T, generator=g), x_image=torch.randn(M, image_dim, generator=g),
        has_text=torch.tensor([True] * (M - 1) + [False]),
        has_image=torch.tensor([True, False] * (M // 2)),
        attr=torch.stack([torch.randint(0, v, (M,), generator=g) for v in A_VALUES], 1),
    ).validate()


def loss(model: ADDRL, batch: TripletBatch, config: ModelConfig | None = None):
    """Eq. 13 on ``batch`` (``model(batch, graph)`` with the model's own loss config, or with
    ``config``'s); the embedding encoder reads no graph."""
    if config is None:
        return model(batch, None)
    user, ids = model.id_chunks(batch, None)
    items = model.views(ids, batch.x_text, batch.x_image, batch.has_text, batch.has_image)
    return addrl_loss(model, user, items, batch, config.loss)


def all_views(model: ADDRL, x_text, x_image, has_text, has_image):
    """User chunks and every item's views, through a training graph of the model's sizes."""
    graph = TrainGraph(torch.empty(2, 0, dtype=torch.long), model.num_users, x_text, x_image,
                       has_text, has_image,
                       torch.zeros(model.num_items, len(model.attribute_names), dtype=torch.long),
                       model.attribute_names, model.num_values)
    return graph, *model.chunks(graph)


def test_batch_contract():
    batch = make_batch(B=4, N=3)
    assert (batch.num_users, batch.num_items, batch.num_negatives) == (4, 8, 3)
    moved = batch.to('cpu')
    assert moved is not batch and torch.equal(moved.neg_index, batch.neg_index)
    with pytest.raises(ValueError, match='neg_index must index'):
        replace(batch, neg_index=batch.neg_index + 8).validate()


def test_total_is_the_weighted_sum_of_terms():
    config = ModelConfig(**PAPER, d_chunk=4, alpha=0.5, beta=0.25, gamma=2.0, l2=0.1)
    total, terms = loss(make(config), make_batch())
    assert set(terms) == {'bpr', 'l2', 'intra', 'inter', 'low', 'total'}
    expected = (terms['bpr'] + 0.1 * terms['l2'] + 0.5 * terms['intra']
                + 0.25 * terms['inter'] + 2.0 * terms['low'])
    assert float(total.detach()) == pytest.approx(expected, rel=1e-5) == terms['total']
    assert all(v > 0 for v in terms.values())
    # K = 3 chunks, user intra term of an untrained model is close to K·ln K (uniform guess)
    assert terms['intra'] > 3 * math.log(3)


def test_terms_switched_off_are_zero():
    config = ModelConfig.for_ablation('no-disentangle', **PAPER, d_chunk=4, l2=0.0)
    _, terms = loss(make(config), make_batch())
    assert terms['intra'] == terms['inter'] == terms['low'] == terms['l2'] == 0.0
    assert terms['total'] == pytest.approx(terms['bpr'])


def test_l2_term_matches_the_authors_form():
    model, batch = make(ModelConfig(**PAPER, d_chunk=4)), make_batch()
    _, terms = loss(model, batch)
    user, ids = model.id_chunks(batch, None)
    items = model.views(ids, batch.x_text, batch.x_image, batch.has_text, batch.has_image)
    text = items.text * batch.has_text.view(-1, 1, 1)
    image = items.image * batch.has_image.view(-1, 1, 1)
    sq = sum(v.pow(2).sum((1, 2)) for v in (items.id, text, image))             # per item
    expected = (user.pow(2).sum() + sq[batch.pos_index].sum() + sq[batch.neg_index].sum()) / 8
    assert terms['l2'] == pytest.approx(float(expected.detach()), rel=1e-5)


def grads(model: nn.Module, config: ModelConfig | None = None, **batch_kw) -> dict[str, bool]:
    total, _ = loss(model, make_batch(**batch_kw), config)
    total.backward()
    return {name: p.grad is not None and bool(p.grad.abs().sum() > 0)
            for name, p in model.named_parameters()}


@pytest.mark.parametrize('config,image_dim,absent', [
    (ModelConfig(**PAPER, d_chunk=4), D_V, []),
    (ModelConfig(**PAPER, d_chunk=4, bpr_negatives='each', double_softmax=True, chunk_norm=False,
                 feature_activation='leaky_relu'), D_V, []),
    (ModelConfig(**PAPER, d_chunk=4, use_image=False), D_V,
     ['views.image_proj', 'intra_heads.image']),
    (ModelConfig(**PAPER, d_chunk=4), 0, ['views.image_proj', 'intra_heads.image']),
    (ModelConfig(**PAPER, d_chunk=4, use_low=False), D_V, ['low_heads']),
    (ModelConfig.for_ablation('no-high', **PAPER, d_chunk=4), D_V, ['intra_heads']),
    (ModelConfig.for_ablation('id-only', **PAPER, d_chunk=4), D_V,
     ['views.text_proj', 'views.image_proj', 'views.attention', 'intra_heads.text',
      'intra_heads.image']),
])
def test_gradient_reaches_exactly_the_enabled_parameters(config, image_dim, absent):
    model = make(config, image_dim)
    reached = grads(model, image_dim=image_dim)
    assert all(reached.values()), [n for n, ok in reached.items() if not ok]
    assert not [n for n in reached if any(n.startswith(prefix + '.') for prefix in absent)]
    for prefix in absent:
        if not prefix.startswith('intra_heads.'):
            owner, _, name = prefix.rpartition('.')
            assert getattr(model.get_submodule(owner) if owner else model, name) is None


def test_loss_switches_cut_gradients_of_built_heads():
    model = make(ModelConfig(**PAPER, d_chunk=4))
    reached = grads(model, ModelConfig(**PAPER, d_chunk=4, use_low=False, use_intra=False))
    assert not any(ok for n, ok in reached.items() if n.startswith(('low_heads', 'intra_heads')))
    assert all(ok for n, ok in reached.items()
               if n.startswith(('views.text_proj', 'views.attention')))


def test_loss_switch_needs_the_heads_in_the_model():
    model = make(ModelConfig(**PAPER, d_chunk=4, use_low=False))
    with pytest.raises(ConfigError, match='use_low'):
        loss(model, make_batch(), ModelConfig(**PAPER, d_chunk=4))


def test_missing_image_rows_send_no_gradient_to_the_image_projection():
    model = make(ModelConfig(**PAPER, d_chunk=4))
    batch = make_batch()
    batch.has_image = torch.zeros_like(batch.has_image)
    batch.x_image.requires_grad_(True)
    total, _ = loss(model, batch)
    total.backward()
    assert batch.x_image.grad is None or torch.count_nonzero(batch.x_image.grad) == 0
    proj = model.views.image_proj
    assert proj.weight.grad is None or not proj.weight.grad.any()


# ---------------------------------------------------------------------- tiny overfit run
def planted_problem(num_users=50, num_items=40, seed=0):
    """Items have a price (3 values) and a brand (4 values) that their text and image
    features encode; every user buys the items of one brand."""
    g = torch.Generator().manual_seed(seed)
    attr = torch.stack([torch.randint(0, 3, (num_items,), generator=g),
                        torch.arange(num_items) % 4], dim=1)
    onehot = torch.cat([torch.eye(3)[attr[:, 0]], torch.eye(4)[attr[:, 1]]], dim=1)
    x_text = torch.cat([onehot, 0.1 * torch.randn(num_items, 9, generator=g)], dim=1)
    x_image = onehot @ torch.randn(7, 10, generator=g) + 0.1 * torch.randn(num_items, 10,
                                                                           generator=g)
    likes = torch.arange(num_users) % 4
    return attr, x_text, x_image, likes, g


def sample_batch(attr, x_text, x_image, likes, g, N=4) -> TripletBatch:
    brand = attr[:, 1]
    pos, neg = [], []
    for b in likes.tolist():
        good, bad = (brand == b).nonzero().view(-1), (brand != b).nonzero().view(-1)
        pos.append(good[torch.randint(0, good.numel(), (1,), generator=g)])
        neg.append(bad[torch.randint(0, bad.numel(), (N,), generator=g)])
    pos, neg = torch.cat(pos), torch.stack(neg)
    item_id, inverse = torch.unique(torch.cat([pos, neg.view(-1)]), return_inverse=True)
    B = likes.numel()
    return TripletBatch(
        user_id=torch.arange(B), item_id=item_id, pos_index=inverse[:B],
        neg_index=inverse[B:].view(B, N), x_text=x_text[item_id], x_image=x_image[item_id],
        has_text=torch.ones(item_id.numel(), dtype=torch.bool),
        has_image=torch.arange(item_id.numel()) % 5 != 0, attr=attr[item_id]).validate()


def test_tiny_overfit_learns_ranking_and_chunk_identity():
    attr, x_text, x_image, likes, g = planted_problem()
    torch.manual_seed(0)
    model = ADDRL(50, 40, ['price', 'brand'], [3, 4], 16, 10,
                  ModelConfig(**PAPER, d_chunk=8, bpr_reduction='mean', alpha=1.0, beta=0.1,
                              gamma=1.0, l2=1e-3))
    eval_batch = sample_batch(attr, x_text, x_image, likes, torch.Generator().manual_seed(99))
    _, before_terms = loss(model, eval_batch)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.02)
    for _ in range(200):
        optimizer.zero_grad()
        loss(model, sample_batch(attr, x_text, x_image, likes, g))[0].backward()
        optimizer.step()
    _, after_terms = loss(model, eval_batch)
    assert after_terms['total'] < 0.5 * before_terms['total']
    assert after_terms['bpr'] < 0.5 * before_terms['bpr']

    with torch.no_grad():
        graph, users, items = all_views(model, x_text, x_image, torch.ones(40, dtype=torch.bool),
                                        torch.ones(40, dtype=torch.bool))
        views = {'user': users, 'id': items.id, 'text': items.text, 'image': items.image}
        K = model.num_chunks
        for name, chunks in views.items():
            predicted = model.intra_heads[name](chunks).argmax(-1)          # [rows, K]
            accuracy = (predicted == torch.arange(K)).float().mean()
            assert accuracy >= 0.95, (name, float(accuracy))
        # the ranking follows the planted brand preference
        tables = model.tables(graph)
        full = torch.nn.functional.softplus(
            torch.einsum('ukd,ikd->uik', tables.user, tables.item)).sum(-1)
        top = full.topk(5, dim=1).indices
        assert torch.equal(tables.full_sort(torch.arange(50), 5)[1], top)
        hit = (attr[top, 1] == likes.view(-1, 1)).float().mean()
        assert hit > 0.9, float(hit)


def test_no_attributes_means_no_low_term():
    torch.manual_seed(0)
    model = ADDRL(U, I, [], [], D_T, D_V, ModelConfig(id_encoder='embedding', d_chunk=4,
                                                      free_chunks=2))
    batch = make_batch()
    batch.attr = batch.attr[:, :0]
    _, terms = loss(model, batch)
    assert model.low_heads is None and terms['low'] == 0.0 and terms['intra'] > 0


@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs a CUDA device')
def test_loss_and_tables_on_cuda():
    model = make(ModelConfig(**PAPER, d_chunk=4)).cuda()
    total, terms = loss(model, make_batch().to('cuda'))
    total.backward()
    assert model.id_encoder.user_embedding.weight.grad.is_cuda and math.isfinite(terms['total'])
    graph, _, _ = all_views(model.cpu(), torch.randn(I, D_T), torch.randn(I, D_V),
                            torch.ones(I, dtype=torch.bool), torch.ones(I, dtype=torch.bool))
    tables = model.cuda().tables(graph.to('cuda'))
    assert tables.item.is_cuda and tables.item.shape == (I, 3, 4) and tables.user.is_cuda
