"""The builder's feature stage: item documents and image sources → feature matrices.

Chooses between encoding (:mod:`~data_builders.features.text`,
:mod:`~data_builders.features.images`), downloading (:mod:`~data_builders.features.fetch`) and
importing precomputed features (:mod:`~data_builders.features.precomputed`) from the build
options.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from data_builders.errors import DataBuildError
from data_builders.readers.records import ItemMeta

logger = logging.getLogger(__name__)


@dataclass
class TextOptions:
    """How item documents become ``x_text`` (the ``--text-*`` build options).

    Args:
        encoder: ``minilm``, ``none`` or a Hugging Face BERT-family name or path.
        precomputed: MMRec ``.npy`` features, imported instead of encoding.
        ids: the id mapping of an ``.npy`` file's rows (MMRec's ``i_id_mapping.csv``).
        max_length: token limit of the encoder (``None``: the encoder's own, at most 512).
        batch_size: documents per encoder batch.
        device: where the encoder runs.
        progress: show a progress bar.
    """
    encoder: str = 'minilm'
    precomputed: Path | None = None
    ids: Path | None = None
    max_length: int | None = None
    batch_size: int = 64
    device: str = 'cpu'
    progress: bool = True


@dataclass
class ImageOptions:
    """Where item images come from and how they become ``x_image`` (the image build options).

    Args:
        encoder: ``efficientnet-lite0``, ``none`` or a ViT / CLIP-vision name or path.
        precomputed: MMRec ``.npy`` or 2014 ``.b`` features, imported instead of encoding.
        ids: the id mapping of an ``.npy`` file's rows (the ``.b`` format holds its ids).
        folder: folder of images named ``<item id>.<ext>``.
        download: fetch the dumps' image URLs into ``<cache_dir>/images``.
        allow_private_urls: let the download fetch from loopback, link-local, private and
            reserved addresses.
        size: input side of efficientnet-lite0 (``None``: 224).
        device: where the encoder runs.
        progress: show progress bars.
    """
    encoder: str = 'efficientnet-lite0'
    precomputed: Path | None = None
    ids: Path | None = None
    folder: Path | None = None
    download: bool = False
    allow_private_urls: bool = False
    size: int | None = None
    device: str = 'cpu'
    progress: bool = True


def _from_precomputed(path: Path, ids: Path | None, items: np.ndarray, flag: str
                      ) -> tuple[Tensor, Tensor, dict[str, Any]]:
    """Features ``[I, d]``, a has-feature mask ``[I]`` and the meta.json info, from a 2014
    ``.b`` file (keyed by ASIN) or an ``.npy`` placed through the id mapping ``ids``. Zero rows
    and, for images, MMRec's mean-filled rows are recorded as missing."""
    from data_builders.features.precomputed import (filled_rows, load_keyed_features,
                                                    read_2014_image_features, read_id_mapping,
                                                    require_ids)

    info: dict[str, Any] = {'name': f'precomputed:{Path(path).name}', 'checksum': None}
    if Path(path).suffix == '.b':
        found = read_2014_image_features(path, wanted=set(items.tolist()))
        if not found:
            raise DataBuildError(f'{path}: no record matches an item of the graph')
        dim = len(next(iter(found.values())))
        x = torch.zeros(len(items), dim)
        mask = torch.zeros(len(items), dtype=torch.bool)
        for i, asin in enumerate(items.tolist()):
            if asin in found:
                x[i] = torch.from_numpy(np.asarray(found[asin], dtype=np.float32))
                mask[i] = True
    else:
        require_ids(path, ids, flag)
        x = load_keyed_features(path, read_id_mapping(ids), items.tolist(), ids)
        info['ids'] = Path(ids).name
        filled = filled_rows(x) if flag == '--image-features' else ~x.bool().any(dim=1)
        mask = ~filled
        info['filled_rows'] = int(filled.sum())
        if filled.any():
            logger.info('%s: %d of %d rows are zero or mean-filled: recorded as missing',
                        path, int(filled.sum()), len(items))
    return x, mask, dict(info, dim=x.size(1))


def text_features(options: TextOptions, items: np.ndarray, metas: list[ItemMeta | None],
                  train_item_index: np.ndarray, train_texts: np.ndarray | None,
                  cache_dir: Path) -> tuple[Tensor, Tensor, dict[str, Any]]:
    """``x_text [I, d_t]``, ``has_text [I]`` and the encoder info for meta.json.

    Args:
        options: encoder and its settings, or precomputed features.
        items: item ids ``[I]``.
        metas: metadata of each item (``None`` when it has none).
        train_item_index: item of every training interaction ``[E_train]``.
        train_texts: review text of every training interaction ``[E_train]``, or ``None`` to
            leave reviews out of the documents.
        cache_dir: feature cache.
    """
    if options.precomputed is not None:
        return _from_precomputed(options.precomputed, options.ids, items, '--text-features')
    from data_builders.features.documents import item_documents
    from data_builders.features.text import encode_texts

    documents = item_documents(items, metas, train_item_index, train_texts)
    x, info = encode_texts(documents, options.encoder, cache_dir=cache_dir,
                           batch_size=options.batch_size, max_length=options.max_length,
                           device=options.device, progress=options.progress)
    has_text = torch.tensor([bool(d.strip()) for d in documents]) & (x.size(1) > 0)
    x[~has_text] = 0.0
    return x, has_text, info


def _image_paths(options: ImageOptions, items: np.ndarray, metas: list[ItemMeta | None],
                 cache_dir: Path) -> list[Path | None]:
    if options.folder is not None:
        from data_builders.features.images import find_local_images
        return find_local_images(options.folder, items.tolist())
    if options.download:
        from data_builders.features.fetch import fetch_images
        urls = {str(items[i]): m.image_urls for i, m in enumerate(metas) if m and m.image_urls}
        fetched, outcomes = fetch_images(urls, cache_dir / 'images', progress=options.progress,
                                         allow_private=options.allow_private_urls)
        logger.info('image download outcomes: %s', dict(outcomes))
        return [fetched.get(str(asin)) for asin in items]
    return [None] * len(items)


def image_features(options: ImageOptions, items: np.ndarray, metas: list[ItemMeta | None],
                   cache_dir: Path) -> tuple[Tensor, Tensor, dict[str, Any]]:
    """``x_image [I, d_v]``, ``has_image [I]`` and the encoder info for meta.json.

    Args:
        options: image source, encoder and its settings, or precomputed features.
        items: item ids ``[I]``.
        metas: metadata of each item (their image URLs for ``options.download``).
        cache_dir: feature cache, and downloaded images in ``cache_dir/images``.
    """
    if options.precomputed is not None:
        return _from_precomputed(options.precomputed, options.ids, items, '--image-features')
    from data_builders.features.images import encode_images

    paths = _image_paths(options, items, metas, cache_dir)
    encoder = options.encoder if any(p is not None for p in paths) else 'none'
    if encoder != options.encoder:
        logger.warning('no image source (--images DIR or --download-images): '
                       'building without image features')
    x, has_image, info = encode_images(paths, encoder, cache_dir=cache_dir,
                                       device=options.device, progress=options.progress,
                                       image_size=options.size)
    return x, has_image, info
