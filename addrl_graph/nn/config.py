r"""Model configuration of AD-DRL, and the small views of it that each part of the model reads
(:class:`EncoderConfig`, :class:`LossConfig`, :class:`ViewConfig`).

**Loss balance, widths and ID encoder** were chosen on the real Beauty 2014 half (6,240
users, 4,102 items, 57,661 interactions; paper split, minilm title documents, no images) by
``python -m addrl_graph tune`` (``bench/tune_defaults.py``): 46 finished trials of the
built-in space (TPE, median pruning; each trial at most 40 epochs, 4 minutes, patience 5),
validation Recall@20 only. The ten best trials (0.194-0.203) all lost category control (the
share of the leaned-to category in the top-20 rose as its :math:`\xi` fell), every one
with a low-level weight ``gamma`` <= 1.1; the defaults are those of the best trial
that keeps price, popularity and category control strictly falling from :math:`\xi = 2`
to :math:`-1` (validation Recall@20 0.193): LightGCN ID chunks over 2 layers, chunks of 64,
one free chunk, BPR summed over the batch, ``alpha`` 0.83, ``beta`` 0.0027, ``gamma`` 6.8,
``l2`` 0.037 (with lr 2.5e-3 and 8 negatives, :data:`addrl_graph.nn.registry.MODEL_DEFAULTS`).
Before, the defaults came from the synthetic ``small`` preset, which plants each user's
preference on the attributes the auxiliary losses predict and so rewards heavy auxiliary
losses; that configuration stays in the tests that check planted truth.

**Paper vs authors' switches**, chosen by validation Recall@20 (``bench/sweep_options.py``:
synthetic ``small`` preset, 40 epochs, lr 1e-2, median of 2 seeds, one option changed at a
time): ``chunk_norm`` off (paper) 0.289 vs on 0.269; ``bpr_negatives`` hardest (authors)
0.269 vs each (paper) 0.155; single softmax 0.269 vs double (authors) 0.254; feature
normalisation and the Eq. 1 activation changed less than the seed-to-seed spread
(0.264-0.273), so the authors' choices stay.

The authors' Sports weights (``decay_f=5, decay_n=0.01, decay_a=10, decay_r=1``) keep their
meaning only with ``bpr_reduction='sum'``: the authors sum the BPR term over the batch but
average every auxiliary term over rows and divide the embedding L2 term by the batch size.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, fields
from typing import Any

from addrl_graph.errors import ConfigError

FEATURE_ACTIVATIONS = ('leaky_relu', 'tanh', 'sigmoid', 'none')
BPR_NEGATIVES = ('each', 'hardest')
BPR_REDUCTIONS = ('sum', 'mean')
ID_ENCODERS = ('embedding', 'lightgcn', 'gcn', 'sage')
#: Upper bounds of the size fields, whatever the graph (the paper: chunks of 32, one free chunk;
#: graph encoders over-smooth beyond a handful of layers). Past them a model is no longer a
#: setting but a memory or time sink; :func:`addrl_graph.training.config.check_sizes` then
#: estimates the memory the graph needs at the chosen sizes.
MAX_D_CHUNK, MAX_FREE_CHUNKS, MAX_LAYERS, MAX_EMBEDDING_DIM = 1024, 64, 16, 4096

#: Table 3 variants (plus AD-DRL_ID of Table 2), keyed by a command-line friendly name; each
#: entry lists the switches the variant turns off.
ABLATIONS: dict[str, tuple[str, ...]] = {
    'no-intra': ('use_intra',),                              # AD-DRL w/o intra
    'no-inter': ('use_inter',),                              # AD-DRL w/o inter
    'no-high': ('use_intra', 'use_inter'),                   # AD-DRL w/o high
    'no-low': ('use_low',),                                  # AD-DRL w/o low
    'no-disentangle': ('use_intra', 'use_inter', 'use_low'),  # AD-DRL w/o disentangling
    'id-only': ('use_text', 'use_image'),                    # AD-DRL_ID
}


@dataclass
class ModelConfig:
    r"""Hyper-parameters and switches of :class:`addrl_graph.nn.model.ADDRL` and its loss.

    How the defaults were chosen (on real data) is in the module docstring.

    Args:
        d_chunk (int): width :math:`d` of one chunk (paper: 32). (default: :obj:`64`)
        free_chunks (int): chunks not tied to an attribute (the paper's "others"); the model has
            :math:`K = A + \text{free\_chunks}` chunks. (default: :obj:`1`)
        feature_norm (bool): L2-normalise the raw text/image features before Eq. 1 (authors'
            code; the paper does not say). (default: :obj:`True`)
        feature_activation (str): :math:`\sigma` of Eq. 1, one of ``'leaky_relu'`` (slope 0.2),
            ``'tanh'``, ``'sigmoid'``, ``'none'`` (authors' code). (default: :obj:`'none'`)
        chunk_norm (bool): authors' code: L2-normalise the user chunks and every modality's item
            chunk before fusion (Eq. 9), and the attention input of Eq. 8, so each chunk score is
            :math:`\mathrm{softplus}` of a value in :math:`[-1, 1]`. (default: :obj:`False`,
            the paper)
        bpr_negatives (str): ``'each'`` (paper, Eq. 12: average the BPR term over the
            :math:`N` negatives) or ``'hardest'`` (authors' code: the highest-scored negative).
            (default: :obj:`'hardest'`)
        bpr_reduction (str): ``'sum'`` over the batch (authors' code; Eq. 12 sums over
            :math:`\mathcal{D}`) or ``'mean'``. The auxiliary terms are always row means, as in
            the authors' code. (default: :obj:`'sum'`)
        double_softmax (bool): apply the softmax of Eq. 8 twice, as the authors' code does.
            (default: :obj:`False`)
        tau (float): temperature :math:`\tau` of Eq. 6. (default: :obj:`1.0`)
        alpha (float): weight :math:`\alpha` of the intra-modality loss (Eq. 13).
            (default: :obj:`0.83`)
        beta (float): weight :math:`\beta` of the inter-modality loss. (default: :obj:`0.0027`)
        gamma (float): weight :math:`\gamma` of the low-level loss. (default: :obj:`6.8`)
        l2 (float): :math:`\lambda` of Eq. 12, applied as in the authors' code to the embeddings
            the batch touches: :math:`\lambda \sum \lVert e \rVert^2 / (2B)` over user, positive
            and negative item ID embeddings and projected text/image features.
            (default: :obj:`0.037`)
        use_text (bool): use the text modality (when the graph has one). (default: :obj:`True`)
        use_image (bool): use the image modality (when the graph has one). (default: :obj:`True`)
        use_intra (bool): intra-modality loss, Eq. 3-5. (default: :obj:`True`)
        use_inter (bool): inter-modality loss, Eq. 6-7. (default: :obj:`True`)
        use_low (bool): low-level loss, Eq. 10. (default: :obj:`True`)
        ablation (str, optional): a key of :data:`ABLATIONS`; turns the switches it names off on
            top of the ones above. (default: :obj:`None`)
        id_encoder (str): where the user and item ID chunks come from (see
            :mod:`addrl_graph.nn.encoders`): ``'embedding'`` (paper), ``'lightgcn'``, ``'gcn'`` or
            ``'sage'``. (default: :obj:`'lightgcn'`)
        encoder_layers (int): message-passing layers of a graph encoder. (default: :obj:`2`)
        layer_weights (list[float], optional): weights :math:`\alpha_0 … \alpha_L` of the
            layer outputs of a graph encoder; uniform when :obj:`None`. (default: :obj:`None`)
        attribute_aware (bool): ``gcn``/``sage``: an item's chunk of attribute :math:`a`
            exchanges messages with its value node of :math:`a` only. (default: :obj:`False`)
    """
    d_chunk: int = 64
    free_chunks: int = 1
    feature_norm: bool = True
    feature_activation: str = 'none'
    chunk_norm: bool = False
    bpr_negatives: str = 'hardest'
    bpr_reduction: str = 'sum'
    double_softmax: bool = False
    tau: float = 1.0
    alpha: float = 0.83
    beta: float = 0.0027
    gamma: float = 6.8
    l2: float = 0.037
    use_text: bool = True
    use_image: bool = True
    use_intra: bool = True
    use_inter: bool = True
    use_low: bool = True
    ablation: str | None = None
    id_encoder: str = 'lightgcn'
    encoder_layers: int = 2
    layer_weights: list[float] | None = None
    attribute_aware: bool = False

    def __post_init__(self) -> None:
        """Turn the ablation's switches off, then check every field: a config is validated
        once, where it is made."""
        for switch in ABLATIONS.get(self.ablation, ()):
            setattr(self, switch, False)
        self.validate()

    @property
    def encoder(self) -> 'EncoderConfig':  # what nn.encoders.build_encoder reads
        return EncoderConfig(self.id_encoder, self.encoder_layers, self.layer_weights,
                             self.attribute_aware)

    @property
    def loss(self) -> 'LossConfig':  # what nn.losses.addrl_loss reads
        return LossConfig(**{f.name: getattr(self, f.name) for f in fields(LossConfig)})

    @property
    def views(self) -> 'ViewConfig':  # what nn.views.ItemViews reads
        return ViewConfig(**{f.name: getattr(self, f.name) for f in fields(ViewConfig)})

    @classmethod
    def for_ablation(cls, name: str, **overrides: Any) -> 'ModelConfig':
        """The Table 3 variant ``name`` (a key of :data:`ABLATIONS`), other fields from
        ``overrides``; raises :class:`ConfigError` for an unknown name."""
        if name not in ABLATIONS:
            raise ConfigError(f'ablation must be one of {sorted(ABLATIONS)} (got {name!r})')
        return cls(**overrides, ablation=name)

    def validate(self) -> 'ModelConfig':
        """Check every field; return ``self`` or raise :class:`ConfigError` naming the field."""
        _check(is_int_in(self.d_chunk, 1, MAX_D_CHUNK), 'd_chunk',
               f'an int in [1, {MAX_D_CHUNK}]', self.d_chunk)
        _check(is_int_in(self.free_chunks, 0, MAX_FREE_CHUNKS), 'free_chunks',
               f'an int in [0, {MAX_FREE_CHUNKS}]', self.free_chunks)
        _check(self.feature_activation in FEATURE_ACTIVATIONS, 'feature_activation',
               f'one of {FEATURE_ACTIVATIONS}', self.feature_activation)
        _check(self.bpr_negatives in BPR_NEGATIVES, 'bpr_negatives',
               f'one of {BPR_NEGATIVES}', self.bpr_negatives)
        _check(self.bpr_reduction in BPR_REDUCTIONS, 'bpr_reduction',
               f'one of {BPR_REDUCTIONS}', self.bpr_reduction)
        _check(self.ablation is None or self.ablation in ABLATIONS, 'ablation',
               f'None or one of {sorted(ABLATIONS)}', self.ablation)
        _check(self.id_encoder in ID_ENCODERS, 'id_encoder', f'one of {ID_ENCODERS}',
               self.id_encoder)
        _check(is_int_in(self.encoder_layers, 0, MAX_LAYERS), 'encoder_layers',
               f'an int in [0, {MAX_LAYERS}]', self.encoder_layers)
        _check(self.layer_weights is None
               or (isinstance(self.layer_weights, (list, tuple))
                   and len(self.layer_weights) == self.encoder_layers + 1
                   and all(is_finite_number(w) for w in self.layer_weights)),
               'layer_weights', f'None or encoder_layers + 1 = {self.encoder_layers + 1} numbers',
               self.layer_weights)
        _check(is_finite_number(self.tau) and self.tau > 0, 'tau', 'a finite number > 0', self.tau)
        for name in ('alpha', 'beta', 'gamma', 'l2'):
            value = getattr(self, name)
            _check(is_finite_number(value) and value >= 0, name, 'a finite number >= 0', value)
        for f in fields(self):
            if f.type in ('bool', bool):
                value = getattr(self, f.name)
                _check(isinstance(value, bool), f.name, 'true or false', value)
        return self

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict of every field."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> 'ModelConfig':
        """Inverse of :meth:`to_dict`; missing keys take defaults, unknown keys raise
        :class:`ConfigError`."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(f'unknown model config keys {unknown} (known: {sorted(known)})')
        return cls(**values)


@dataclass(frozen=True)
class EncoderConfig:
    """The ID encoder's part of :class:`ModelConfig` (``id_encoder``, ``encoder_layers``,
    ``layer_weights``, ``attribute_aware``)."""
    name: str
    layers: int
    layer_weights: list[float] | None
    attribute_aware: bool


@dataclass(frozen=True)
class LossConfig:
    """The loss's part of :class:`ModelConfig` (fields of the same names)."""
    bpr_negatives: str
    bpr_reduction: str
    tau: float
    alpha: float
    beta: float
    gamma: float
    l2: float
    use_intra: bool
    use_inter: bool
    use_low: bool


@dataclass(frozen=True)
class ViewConfig:
    """The item views' and fusion's part of :class:`ModelConfig` (fields of the same
    names)."""
    feature_norm: bool
    feature_activation: str
    chunk_norm: bool
    double_softmax: bool
    use_text: bool
    use_image: bool


@dataclass
class BaselineConfig:
    """Options of the comparison models (:mod:`addrl_graph.nn.baselines`); :obj:`None` takes the
    model's tuned default from :data:`addrl_graph.nn.registry.MODEL_DEFAULTS`.

    Args:
        embedding_dim (int, optional): width of the user and item embeddings.
        l2 (float, optional): weight of the L2 term on the embeddings a batch touches.
        num_layers (int, optional): propagation layers (``lightgcn``, ``dgcf``; ``freedom``:
            user–item layers).
        num_factors (int, optional): disentangled factors or intents (``dmrl``, ``dgcf``).
        num_iterations (int, optional): routing iterations per layer (``dgcf``).
        cor_weight (float, optional): weight of the distance-correlation independence term
            (``dmrl``, ``dgcf``).
        mm_layers (int, optional): item–item graph layers (``freedom``).
        knn_k (int, optional): neighbours per item in the item–item kNN graphs (``freedom``).
        image_weight (float, optional): the image graph's share of the item–item graph, in
            [0, 1] (``freedom``).
        edge_dropout (float, optional): share of training edges pruned per step, in [0, 1)
            (``freedom``).
        align_weight (float, optional): weight of the modality-alignment BPR terms
            (``freedom``).
    """
    embedding_dim: int | None = None
    l2: float | None = None
    num_layers: int | None = None
    num_factors: int | None = None
    num_iterations: int | None = None
    cor_weight: float | None = None
    mm_layers: int | None = None
    knn_k: int | None = None
    image_weight: float | None = None
    edge_dropout: float | None = None
    align_weight: float | None = None

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> 'BaselineConfig':
        """Check every set field; return ``self`` or raise :class:`ConfigError`."""
        _check(self.embedding_dim is None or is_int_in(self.embedding_dim, 1, MAX_EMBEDDING_DIM),
               'embedding_dim', f'None or an int in [1, {MAX_EMBEDDING_DIM}]', self.embedding_dim,
               'baseline')
        _check(self.l2 is None or is_finite_number(self.l2) and self.l2 >= 0, 'l2',
               'None or a finite number >= 0', self.l2, 'baseline')
        _check(self.num_layers is None or is_int_in(self.num_layers, 0, MAX_LAYERS),
               'num_layers', f'None or an int in [0, {MAX_LAYERS}]', self.num_layers, 'baseline')
        for name, low, high in (('num_factors', 1, MAX_EMBEDDING_DIM),
                                ('num_iterations', 1, MAX_LAYERS), ('mm_layers', 0, MAX_LAYERS),
                                ('knn_k', 1, MAX_EMBEDDING_DIM)):
            value = getattr(self, name)
            _check(value is None or is_int_in(value, low, high), name,
                   f'None or an int in [{low}, {high}]', value, 'baseline')
        for name in ('cor_weight', 'align_weight'):
            value = getattr(self, name)
            _check(value is None or is_finite_number(value) and value >= 0, name,
                   'None or a finite number >= 0', value, 'baseline')
        _check(self.image_weight is None
               or is_finite_number(self.image_weight) and 0 <= self.image_weight <= 1,
               'image_weight', 'None or a number in [0, 1]', self.image_weight, 'baseline')
        _check(self.edge_dropout is None
               or is_finite_number(self.edge_dropout) and 0 <= self.edge_dropout < 1,
               'edge_dropout', 'None or a number in [0, 1)', self.edge_dropout, 'baseline')
        return self

    def options(self) -> dict[str, Any]:
        """The fields that are set, as keyword arguments of a baseline's ``from_graph``."""
        return {k: v for k, v in dataclasses.asdict(self).items() if v is not None}


def is_int_in(value: Any, low: float, high: float) -> bool:
    """An int (not a bool) in ``[low, high]``."""
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def is_finite_number(value: Any) -> bool:
    """A finite int or float (``nan`` and ``inf`` are not numbers a config can use)."""
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
            and math.isfinite(value))


def _check(ok: bool, name: str, expected: str, got: Any, section: str = 'model') -> None:
    if not ok:
        raise ConfigError(f'{section} config {name} must be {expected} (got {got!r})')
