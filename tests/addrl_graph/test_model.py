"""ADDRL model and ModelConfig: shapes, sizing from a graph, fusion masks, chunk scores."""
from __future__ import annotations

import json
import math

import pytest
import torch
import torch.nn.functional as F
from torch_geometric.data import HeteroData

from addrl_graph.nn.config import ABLATIONS, ModelConfig
from addrl_graph.testing import PAPER_MODEL, graph_from_interactions
from addrl_graph.errors import ConfigError
from addrl_graph.nn.model import ADDRL
from addrl_graph.data.train_graph import TrainGraph

#: The paper's architecture (ID embeddings, one free chunk), which these tests check.
PAPER = PAPER_MODEL

NAMES, VALUES = ['price', 'brand'], [3, 4]          # A = 2, so K = 3 with one free chunk
U, I, D_T, D_V, D = 7, 6, 5, 4, 8


pytestmark = pytest.mark.usefixtures('one_thread')


def make_model(**config) -> ADDRL:
    torch.manual_seed(0)
    return ADDRL(U, I, NAMES, VALUES, D_T, D_V, ModelConfig(**PAPER, d_chunk=D, **config))


def item_inputs(has_text=None, has_image=None):
    g = torch.Generator().manual_seed(1)
    return (torch.arange(I), torch.randn(I, D_T, generator=g), torch.randn(I, D_V, generator=g),
            torch.ones(I, dtype=torch.bool) if has_text is None else has_text,
            torch.ones(I, dtype=torch.bool) if has_image is None else has_image)


def item_chunks(m: ADDRL, ids, x_text, x_image, has_text, has_image):
    """The views of items ``ids`` of a model with the ``embedding`` ID encoder."""
    ego = m.id_encoder.item_embedding(ids).view(-1, m.num_chunks, m.d_chunk)
    return m.views(ego, x_text, x_image, has_text, has_image)


def user_chunks(m: ADDRL, users):
    return m.id_encoder.user_embedding(users).view(-1, m.num_chunks, m.d_chunk)


def train_graph(x_text, x_image, has_text, has_image) -> TrainGraph:
    """A training graph of the model's sizes (no edges: the embedding encoder reads none)."""
    return TrainGraph(torch.empty(2, 0, dtype=torch.long), U, x_text, x_image, has_text,
                      has_image, torch.zeros(I, len(NAMES), dtype=torch.long), NAMES, VALUES)


@pytest.fixture
def graph() -> tuple[HeteroData, dict]:
    """A 3-user, 4-item graph following the schema of addrl_graph.data.schema (no text features)."""
    return graph_from_interactions(
        torch.tensor([0, 0, 1, 2, 2]), torch.tensor([0, 1, 2, 3, 0]), torch.tensor([0, 1, 0, 0, 2]),
        num_users=3, num_items=4, attr=torch.tensor([[0, 1], [1, 0], [2, 1], [0, 0]]),
        attributes={'price': 3, 'popularity': 2}, x_image=torch.randn(4, 6),
        has_image=torch.tensor([True, True, False, True]))


# ---------------------------------------------------------------------- config
def test_config_defaults_follow_the_real_data_search_and_the_sweep():
    c = ModelConfig()
    # chosen by `tune` on the real Beauty 2014 half (see the ModelConfig docstring)
    assert (c.id_encoder, c.encoder_layers, c.d_chunk, c.free_chunks) == ('lightgcn', 2, 64, 1)
    assert c.bpr_reduction == 'sum' and c.tau == 1.0
    assert all(0 < w for w in (c.alpha, c.beta, c.gamma, c.l2))
    # paper / authors' switches chosen by the synthetic sweep (bench/sweep_options.py)
    assert (c.feature_norm, c.feature_activation, c.chunk_norm) == (True, 'none', False)
    assert (c.bpr_negatives, c.double_softmax) == ('hardest', False)
    assert c.validate() is c


@pytest.mark.parametrize('field,value', [
    ('d_chunk', 0), ('free_chunks', -1), ('feature_activation', 'relu'), ('bpr_negatives', 'all'),
    ('bpr_reduction', 'none'), ('tau', 0.0), ('alpha', -1.0), ('l2', 'x'), ('use_low', 1),
    ('ablation', 'no-everything')])
def test_config_validate_names_option_and_value(field, value):
    with pytest.raises(ConfigError, match=rf'{field} .*\(got {value!r}\)'):
        ModelConfig(**{field: value})


def test_config_json_round_trip_and_unknown_keys():
    c = ModelConfig(**PAPER, d_chunk=16, bpr_negatives='each', ablation='no-inter')
    again = ModelConfig.from_dict(json.loads(json.dumps(c.to_dict())))
    assert again == c and again.use_inter is False
    with pytest.raises(ConfigError, match='unknown model config keys'):
        ModelConfig.from_dict({**c.to_dict(), 'dchunk': 8})


@pytest.mark.parametrize('name,off', [
    ('no-intra', {'use_intra'}), ('no-inter', {'use_inter'}),
    ('no-high', {'use_intra', 'use_inter'}), ('no-low', {'use_low'}),
    ('no-disentangle', {'use_intra', 'use_inter', 'use_low'}),
    ('id-only', {'use_text', 'use_image'})])
def test_for_ablation_turns_off_exactly_the_table3_components(name, off):
    c = ModelConfig.for_ablation(name, d_chunk=4)
    switches = {'use_text', 'use_image', 'use_intra', 'use_inter', 'use_low'}
    assert {s for s in switches if not getattr(c, s)} == off
    assert c.ablation == name and c.d_chunk == 4 and set(ABLATIONS) >= {name}
    with pytest.raises(ConfigError, match="got 'w/o intra'"):
        ModelConfig.for_ablation('w/o intra')


# ---------------------------------------------------------------------- construction
def test_modules_follow_attributes_and_switches():
    m = make_model()
    assert m.num_chunks == 3 and m.attribute_names == NAMES
    assert m.views.modalities == ['id', 'text', 'image']
    assert {a: h.out_features for a, h in m.low_heads.items()} == dict(zip(NAMES, VALUES))
    assert set(m.intra_heads) == {'user', 'id', 'text', 'image'}
    assert all(h.out_features == 3 for h in m.intra_heads.values())
    assert m.id_encoder.user_embedding.weight.shape == (U, 3 * D)

    ablated = make_model(ablation='id-only', use_low=False)
    assert ablated.views.text_proj is None and ablated.views.image_proj is None
    assert ablated.views.attention is None and ablated.low_heads is None
    assert set(ablated.intra_heads) == {'user', 'id'}
    no_image = ADDRL(U, I, NAMES, VALUES, D_T, 0, ModelConfig(**PAPER, d_chunk=D))
    assert no_image.views.image_proj is None and no_image.views.modalities == ['id', 'text']


@pytest.mark.parametrize('names,values,match', [
    (['price'], [3, 4], 'same length'), (['price', 'price'], [3, 4], 'unique'),
    (['type', 'brand'], [3, 4], "'type'"), (['a.b', 'brand'], [3, 4], "'a.b'"),
    (['price', 'brand'], [3, 0], 'at least one value')])
def test_bad_attributes_raise_config_error(names, values, match):
    with pytest.raises(ConfigError, match=match):
        ADDRL(U, I, names, values, D_T, D_V, ModelConfig(**PAPER, d_chunk=D))


def test_from_graph_sizes_model_from_schema(graph):
    data, meta = graph
    m = ADDRL.from_graph(TrainGraph.from_data(data, meta), ModelConfig(**PAPER, d_chunk=4))
    assert (m.num_users, m.num_items, m.num_chunks) == (3, 4, 3)
    assert m.attribute_names == ['price', 'popularity']
    assert {a: h.out_features for a, h in m.low_heads.items()} == {'price': 3, 'popularity': 2}
    assert m.views.text_proj is None and m.views.image_proj.in_features == 6  # no x_text
    _, items = m.chunks(TrainGraph.from_data(data, meta), batch_size=3)
    assert items.fused.shape == (4, 3, 4)


def test_xavier_init_and_zero_biases():
    m = make_model()
    bound = math.sqrt(6 / (U + 3 * D))
    weight = m.id_encoder.user_embedding.weight
    assert weight.abs().max() <= bound
    assert weight.abs().max() > 0.5 * bound
    assert all(torch.count_nonzero(h.bias) == 0 for h in m.low_heads.values())


# ---------------------------------------------------------------------- shapes & fusion
def test_item_chunks_shapes_and_weights_are_distributions():
    m = make_model()
    chunks = item_chunks(m, *item_inputs())
    for view in (chunks.id, chunks.text, chunks.image, chunks.fused):
        assert view.shape == (I, 3, D)
    assert chunks.weights.shape == (I, 3, 3)
    torch.testing.assert_close(chunks.weights.sum(-1), torch.ones(I, 3))
    assert user_chunks(m, torch.tensor([0, 2])).shape == (2, 3, D)


def test_missing_image_gets_zero_weight_and_is_ignored():
    m = make_model()
    has_image = torch.tensor([True, False, True, True, False, True])
    has_text = torch.tensor([True, True, True, True, False, True])
    ids, x_text, x_image, has_text, has_image = item_inputs(has_text, has_image)
    before = item_chunks(m, ids, x_text, x_image, has_text, has_image)
    assert torch.all(before.weights[~has_image, :, 2] == 0)
    assert torch.all(before.weights[has_image, :, 2] > 0)
    # item 4 has neither text nor image: the ID view takes all the weight
    assert torch.all(before.weights[4, :, 0] == 1)

    x_image2 = x_image + 10 * torch.randn_like(x_image)
    after = item_chunks(m, ids, x_text, x_image2, has_text, has_image)
    assert torch.equal(after.fused[~has_image], before.fused[~has_image])
    assert not torch.allclose(after.fused[has_image], before.fused[has_image])


@pytest.mark.parametrize('double', [False, True])
def test_double_softmax_squeezes_weights(double):
    m = make_model(double_softmax=double)
    with torch.no_grad():                       # make the attention logits large
        m.views.attention[2].weight.mul_(50)
        m.views.attention[2].bias.copy_(torch.tensor([20.0, 0.0, -20.0]))
    w = item_chunks(m, *item_inputs()).weights
    if double:   # softmax of a distribution over 3 entries lies in [1/(2+e), e/(2+e)]
        assert w.min() >= 1 / (2 + math.e) - 1e-6 and w.max() <= math.e / (2 + math.e) + 1e-6
    else:
        assert w.max() > 0.9


# ---------------------------------------------------------------------- scores
def test_chunk_scores_broadcast_over_negatives():
    m = make_model()
    fused = item_chunks(m, *item_inputs()).fused
    user = user_chunks(m, torch.tensor([0, 1, 2]))
    neg_index = torch.tensor([[0, 1], [2, 3], [4, 5]])
    scores = m.chunk_scores(user, fused[neg_index])
    assert scores.shape == (3, 2, 3)
    for b in range(3):
        for n in range(2):
            single = m.chunk_scores(user[b:b + 1], fused[neg_index[b, n]][None])
            torch.testing.assert_close(scores[b, n], single[0])


def test_scores_decompose_into_chunks_and_tables_agree():
    m = make_model()
    ids, x_text, x_image, has_text, has_image = item_inputs()
    users = torch.tensor([0, 3, 6, 1, 2, 5])
    per_chunk = m.chunk_scores(user_chunks(m, users),
                               item_chunks(m, ids, x_text, x_image, has_text, has_image).fused)
    total = per_chunk.sum(-1)                                             # aligned pairs

    tables = m.tables(train_graph(x_text, x_image, has_text, has_image))
    assert tables.item.shape == (I, 3, D) and tables.item_weights.shape == (I, 3, 3)
    # what the evaluator computes: sum_k softplus(u_k · v_k) over the two tables
    full = F.softplus(torch.einsum('bkd,ikd->bik', tables.user[users], tables.item)).sum(-1)
    torch.testing.assert_close(full[torch.arange(I), torch.arange(I)], total)
    torch.testing.assert_close(tables.pair_terms(users, ids), per_chunk)
    torch.testing.assert_close(tables.scores(users)[torch.arange(I), torch.arange(I)], total)
    assert not tables.item.requires_grad


@pytest.mark.parametrize('chunk_norm', [True, False])
def test_chunk_norm_bounds_scores(chunk_norm):
    m = make_model(chunk_norm=chunk_norm)
    with torch.no_grad():
        for p in (m.id_encoder.user_embedding.weight, m.id_encoder.item_embedding.weight):
            p.mul_(100)
    ids, x_text, x_image, has_text, has_image = item_inputs()
    fused = item_chunks(m, ids, x_text, x_image, has_text, has_image).fused
    scores = m.chunk_scores(user_chunks(m, torch.arange(I)), fused)
    lo, hi = F.softplus(torch.tensor(-1.0)), F.softplus(torch.tensor(1.0))
    inside = bool(((scores >= lo - 1e-6) & (scores <= hi + 1e-6)).all())
    assert inside == chunk_norm
    if chunk_norm:
        users = m.tables(train_graph(x_text, x_image, has_text, has_image)).user
        assert torch.allclose(users.norm(dim=-1), torch.ones(U, 3))
        assert bool((fused.norm(dim=-1) <= 1 + 1e-6).all())


def test_feature_norm_makes_projection_scale_invariant():
    ids, x_text, x_image, has_text, has_image = item_inputs()
    for norm in (True, False):
        m = make_model(feature_norm=norm, feature_activation='tanh')
        a = item_chunks(m, ids, x_text, x_image, has_text, has_image).text
        b = item_chunks(m, ids, 3 * x_text, x_image, has_text, has_image).text
        assert torch.allclose(a, b, atol=1e-6) == norm
        assert bool((a.abs() < 1).all())          # tanh activation applied
