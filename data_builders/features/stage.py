"""The builder's feature stage: item documents and image sources → feature matrices.

Chooses between encoding (:mod:`~data_builders.features.text`,
:mod:`~data_builders.features.images`), downloading (:mod:`~data_builders.features.fetch`) and
importing precomputed features (:mod:`~data_builders.features.precomputed`) from the build
options.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import Tensor

from data_builders.errors import DataBuildError
from data_builders.readers.records import ItemMeta

if TYPE_CHECKING:
    from data_builders.build import BuildConfig

logger = logging.getLogger(__name__)


def _from_precomputed(path: Path, num_items: int,
                      items: np.ndarray) -> tuple[Tensor, Tensor, dict[str, Any]]:
    """Features ``[I, d]``, a has-feature mask ``[I]`` and the meta.json info, from an ``.npy``
    or 2014 ``.b`` file."""
    from data_builders.features.precomputed import load_mmrec_features, read_2014_image_features

    if Path(path).suffix == '.b':
        found = read_2014_image_features(path, wanted=set(items.tolist()))
        if not found:
            raise DataBuildError(f'{path}: no record matches an item of the graph')
        dim = len(next(iter(found.values())))
        x = torch.zeros(num_items, dim)
        mask = torch.zeros(num_items, dtype=torch.bool)
        for i, asin in enumerate(items.tolist()):
            if asin in found:
                x[i] = torch.from_numpy(np.asarray(found[asin], dtype=np.float32))
                mask[i] = True
    else:
        x = load_mmrec_features(path, num_items)
        mask = x.abs().sum(dim=1) > 0
    return x, mask, {'name': f'precomputed:{Path(path).name}', 'dim': x.size(1), 'checksum': None}


def text_features(config: BuildConfig, items: np.ndarray, metas: list[ItemMeta | None],
                  train_item_index: np.ndarray, train_texts: np.ndarray | None,
                  cache_dir: Path) -> tuple[Tensor, Tensor, dict[str, Any]]:
    """``x_text [I, d_t]``, ``has_text [I]`` and the encoder info for meta.json."""
    if config.text_features is not None:
        return _from_precomputed(config.text_features, len(items), items)
    from data_builders.features.documents import item_documents
    from data_builders.features.text import encode_texts

    documents = item_documents(items, metas, train_item_index, train_texts)
    x, info = encode_texts(documents, config.text_encoder, cache_dir=cache_dir,
                           batch_size=config.batch_size, max_length=config.text_max_length,
                           device=config.device, progress=config.progress)
    has_text = torch.tensor([bool(d.strip()) for d in documents]) & (x.size(1) > 0)
    x[~has_text] = 0.0
    return x, has_text, info


def _image_paths(config: BuildConfig, items: np.ndarray, metas: list[ItemMeta | None],
                 cache_dir: Path) -> list[Path | None]:
    if config.images is not None:
        from data_builders.features.images import find_local_images
        return find_local_images(config.images, items.tolist())
    if config.download_images:
        from data_builders.features.fetch import fetch_images
        urls = {str(items[i]): m.image_urls for i, m in enumerate(metas) if m and m.image_urls}
        fetched, outcomes = fetch_images(urls, cache_dir / 'images', progress=config.progress)
        logger.info('image download outcomes: %s', dict(outcomes))
        return [fetched.get(str(asin)) for asin in items]
    return [None] * len(items)


def image_features(config: BuildConfig, items: np.ndarray, metas: list[ItemMeta | None],
                   cache_dir: Path) -> tuple[Tensor, Tensor, dict[str, Any]]:
    """``x_image [I, d_v]``, ``has_image [I]`` and the encoder info for meta.json."""
    if config.image_features is not None:
        return _from_precomputed(config.image_features, len(items), items)
    from data_builders.features.images import encode_images

    paths = _image_paths(config, items, metas, cache_dir)
    encoder = config.image_encoder if any(p is not None for p in paths) else 'none'
    if encoder != config.image_encoder:
        logger.warning('no image source (--images DIR or --download-images): '
                       'building without image features')
    x, has_image, info = encode_images(paths, encoder, cache_dir=cache_dir,
                                       device=config.device, progress=config.progress,
                                       image_size=config.image_size)
    return x, has_image, info
