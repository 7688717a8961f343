"""Dumps → one validated ``HeteroData`` graph: read, clean, k-core, split, attributes, features.

``build(config)`` runs every stage, times it, writes ``graph.pt`` + ``meta.json`` atomically
and returns the meta dict (whose ``stats`` hold the Table-1 style summary). The options are
checked when the config is made (:meth:`BuildConfig.check_options`) and the files before any
dump is read (:meth:`BuildConfig.validate`); the graph folder is locked for the whole build
(:func:`data_builders.folders.graph_folder`).
"""
from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from addrl_graph.data.assemble import assemble_graph
from addrl_graph.data.schema import save_graph
from addrl_graph.io import sha256_file
from data_builders.attributes import AttributeConfig, derive_attributes
from data_builders.catalog import item_catalog
from data_builders.clean import drop_duplicate_pairs, k_core
from data_builders.errors import DataBuildError
from data_builders.features import ImageOptions, TextOptions, image_features, text_features
from data_builders.features.precomputed import require_ids
from data_builders.folders import check_out_folder, graph_folder
from data_builders.readers import FORMATS, ItemMeta, ReadStats, read_meta, read_reviews
from data_builders.readers.records import DUPLICATE_ITEM
from data_builders.readers.sniff import check_format
from data_builders.split import require_held_out, split_interactions, time_order
from data_builders.summary import graph_statistics

logger = logging.getLogger(__name__)


@dataclass
class BuildConfig:
    """Every option of ``python -m data_builders build``: a flag per field (``attributes``: one
    per field of :class:`AttributeConfig`; ``progress`` follows ``--quiet``).

    Args:
        format: dump format, ``'2014'``, ``'2018'``, ``'2023'`` or ``'sequence'``
            (``user item item ...`` lines in time order, no metadata).
        reviews: review dump (``.json[l][.gz]``).
        meta: metadata dump, or ``None`` (every attribute then becomes ``unknown``).
        out: output folder for ``graph.pt`` and ``meta.json``.
        images: folder of images named ``<item id>.<ext>``.
        download_images: fetch the dumps' image URLs into ``cache_dir/images`` (not with
            ``images``).
        text_encoder: ``minilm``, ``none`` or a Hugging Face BERT-family name or path.
        image_encoder: ``efficientnet-lite0``, ``none`` or a ViT / CLIP-vision name or path.
        text_features / image_features: precomputed features to import instead of encoding
            (MMRec ``.npy``, placed through ``feature_ids``; for images also the 2014 ``.b``
            binary, which holds its ids).
        feature_ids: the id mapping of the ``.npy`` rows (MMRec's ``i_id_mapping.csv``:
            ``asin`` and ``itemID``); an ``.npy`` is refused without it.
        text_max_length: token limit of the text encoder (default: the encoder's own, ≤ 512).
        image_size: input side of efficientnet-lite0 (default 224).
        text_reviews: add the item's *training* review texts to its document (the paper uses
            reviews; held-out reviews are left out so they cannot leak into features).
        split: ``paper`` (8:2, then 10% of train as validation), ``mmrec`` (MMRec's rule:
            1 + 1 held out under 10 interactions, else floor(20%), halved, test the odd one),
            ``random-811`` (random 8:1:1 in expectation), ``temporal`` (RecBole's 8:1:1 by
            time, newest to test) or ``loo`` (newest to test, the one before to
            validation); see :mod:`data_builders.split`.
        seed: seed of the split (a non-negative integer).
        k_core: minimum interactions per user and per item.
        strict: stop at the first malformed line (file and line number in the error).
        overwrite: replace the graph already in ``out`` (runs trained on it record its
            sha256, so by default a build refuses).
        allow_empty_splits: build even when the split leaves no validation or test
            interaction (a warning instead of an error; such a graph trains to 0.0 metrics).
        allow_private_urls: let ``download_images`` fetch from loopback, link-local, private
            and reserved addresses (refused by default; refused items get no image).
        cache_dir: feature and image cache (default ``<out>/cache``).
        batch_size: documents per text-encoder batch.
        device: where the encoders run (``cpu``, ``cuda``, ``cuda:1``, ...).
        progress: show progress bars.
        attributes: which attributes to derive and how.
    """
    format: str
    reviews: Path
    out: Path
    meta: Path | None = None
    images: Path | None = None
    download_images: bool = False
    text_encoder: str = 'minilm'
    image_encoder: str = 'efficientnet-lite0'
    text_features: Path | None = None
    image_features: Path | None = None
    feature_ids: Path | None = None
    text_max_length: int | None = None
    image_size: int | None = None
    text_reviews: bool = True
    split: str = 'paper'
    seed: int = 0
    k_core: int = 5
    strict: bool = False
    overwrite: bool = False
    allow_empty_splits: bool = False
    allow_private_urls: bool = False
    cache_dir: Path | None = None
    batch_size: int = 64
    device: str = 'cpu'
    progress: bool = True
    attributes: AttributeConfig = field(default_factory=AttributeConfig)

    def __post_init__(self) -> None:
        self.check_options()

    def check_options(self) -> None:
        """The checks of the values alone, run when the config is made (before any file is
        touched); :meth:`validate` runs them again with the checks of the files."""
        if self.format not in FORMATS:
            raise DataBuildError(f'--format must be one of {FORMATS} (got {self.format!r})')
        if self.seed < 0:
            raise DataBuildError(f'--seed must be a non-negative integer (got {self.seed})')
        if self.k_core < 0:
            raise DataBuildError(f'--k-core must be >= 0 (got {self.k_core})')
        for name in ('batch_size', 'text_max_length', 'image_size'):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise DataBuildError(f'--{name.replace("_", "-")} must be >= 1 (got {value})')
        if self.images is not None and self.download_images:
            raise DataBuildError('--images and --download-images exclude each other')

    def validate(self) -> None:
        """All checks that need no dump read in full: the options, the input files (and
        the format of the dumps' first lines), the output folder and the attributes."""
        self.check_options()
        for name in ('reviews', 'meta', 'images', 'text_features', 'image_features',
                     'feature_ids'):
            path = getattr(self, name)
            if path is not None and not Path(path).exists():
                raise DataBuildError(f'--{name.replace("_", "-")}: {path} does not exist')
        require_ids(self.text_features, self.feature_ids, '--text-features')
        require_ids(self.image_features, self.feature_ids, '--image-features')
        check_format(self.reviews, self.format, 'review')
        if self.meta is not None:
            check_format(self.meta, self.format, 'meta')
        check_out_folder(self.out)
        if self.cache_dir is not None:
            check_out_folder(self.cache_dir, '--cache-dir')
        self.attributes.validate()

    def to_dict(self) -> dict[str, Any]:
        """The fields as plain values, less ``overwrite`` (how the folder was written, not
        what the graph is)."""
        return {k: str(v) if isinstance(v, Path) else v for k, v in asdict(self).items()
                if k != 'overwrite'}

    def text_options(self) -> TextOptions:
        """The fields the text features read."""
        return TextOptions(encoder=self.text_encoder, precomputed=self.text_features,
                           ids=self.feature_ids, max_length=self.text_max_length,
                           batch_size=self.batch_size, device=self.device,
                           progress=self.progress)

    def image_options(self) -> ImageOptions:
        """The fields the image features read."""
        return ImageOptions(encoder=self.image_encoder, precomputed=self.image_features,
                            ids=self.feature_ids, folder=self.images,
                            download=self.download_images,
                            allow_private_urls=self.allow_private_urls, size=self.image_size,
                            device=self.device, progress=self.progress)


class StageTimer:
    """Seconds spent per named stage."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        logger.info('stage %s ...', name)
        yield
        self.seconds[name] = round(time.perf_counter() - start, 3)
        logger.info('stage %s done in %.2f s', name, self.seconds[name])


def read_interactions(path: Path, fmt: str, stats: ReadStats, strict: bool) -> pd.DataFrame:
    """Stream the review dump into a frame with ``user, item, timestamp, text``."""
    rows = [(r.user_id, r.item_id, r.timestamp, r.text) for r in
            read_reviews(path, fmt, stats, strict)]
    if not rows:
        raise DataBuildError(f'{path}: no valid review line (skipped: {dict(stats.skipped)})')
    frame = pd.DataFrame(rows, columns=['user', 'item', 'timestamp', 'text'])
    frame['timestamp'] = pd.to_numeric(frame['timestamp'], errors='coerce')
    return frame


def read_item_meta(path: Path, fmt: str, wanted: set[str], stats: ReadStats, strict: bool,
                   reviews: Path) -> dict[str, ItemMeta]:
    """Metadata of the ``wanted`` items only (the rest of the dump is streamed past); the
    ``reviews`` dump they come from is named in the error when none matches.

    The first line of an item wins: a later line of the same item is not used and is counted
    as ``duplicate_item`` in ``stats.skipped`` (and no longer as kept); with ``strict`` it
    stops the build.
    """
    metas: dict[str, ItemMeta] = {}
    for meta in read_meta(path, fmt, stats, strict):
        if meta.item_id not in wanted:
            continue
        if meta.item_id not in metas:
            metas[meta.item_id] = meta
        elif strict:
            raise DataBuildError(f'{path}: item {meta.item_id!r} has more than one metadata '
                                 'line; delete the repeats, or build without --strict to use '
                                 'the first line of each item and count the others')
        else:
            stats.kept -= 1
            stats.skipped[DUPLICATE_ITEM] += 1
    if stats.skipped[DUPLICATE_ITEM]:
        logger.warning('%s: %d repeated metadata lines of items in the graph skipped (the '
                       'first line of each item is used)', path, stats.skipped[DUPLICATE_ITEM])
    if not metas:
        raise DataBuildError(f'{path}: no metadata line matches an item of {reviews}: are both '
                             f'files from the same category and format {fmt}?')
    return metas


def build(config: BuildConfig) -> dict[str, Any]:
    """Run the whole pipeline and write ``config.out``; returns meta.json's content.

    Raises:
        DataBuildError: a bad option, input or output folder (before any dump is read), or
            data that cannot make a graph.
        FolderLocked: another build holds ``config.out``.
    """
    config.validate()
    with graph_folder(config.out, config.overwrite):
        return _build(config)


def _build(config: BuildConfig) -> dict[str, Any]:
    """The stages of :func:`build`, in a folder it holds."""
    timer = StageTimer()
    review_stats, meta_stats = ReadStats(str(config.reviews)), ReadStats(str(config.meta))
    with timer.stage('read_reviews'):
        frame = read_interactions(config.reviews, config.format, review_stats, config.strict)
    with timer.stage('clean'):
        frame, duplicates = drop_duplicate_pairs(frame)
        frame = k_core(frame, config.k_core)
        users = np.sort(frame['user'].unique())
        items = np.sort(frame['item'].unique())
        user_index = np.searchsorted(users, frame['user'].to_numpy())
        item_index = np.searchsorted(items, frame['item'].to_numpy())
    with timer.stage('read_meta'):
        metas = {} if config.meta is None else read_item_meta(
            config.meta, config.format, set(items.tolist()), meta_stats, config.strict,
            config.reviews)
        item_metas = [metas.get(asin) for asin in items]
    with timer.stage('split'):
        time = time_order(frame['timestamp'].to_numpy(float), frame.index.to_numpy(),
                          config.format)
        split = split_interactions(user_index, config.split, config.seed, time)
        require_held_out(split, config.split, config.allow_empty_splits)
    with timer.stage('attributes'):
        train_counts = np.bincount(item_index[split == 0], minlength=len(items))
        attr, attributes, dropped = derive_attributes(item_metas, train_counts,
                                                      config.attributes)
    cache_dir = Path(config.cache_dir or Path(config.out) / 'cache')
    with timer.stage('text_features'):
        train_texts = frame['text'].to_numpy()[split == 0] if config.text_reviews else None
        x_text, has_text, text_info = text_features(
            config.text_options(), items, item_metas, item_index[split == 0], train_texts,
            cache_dir)
    with timer.stage('image_features'):
        x_image, has_image, image_info = image_features(config.image_options(), items,
                                                        item_metas, cache_dir)
    with timer.stage('assemble'):
        data = assemble_graph(user_index, item_index, split, len(users), attr, attributes,
                              x_text, has_text, x_image, has_image)
        stats = graph_statistics(data, attributes)
    meta = {
        'format': config.format,
        'users': users.tolist(),
        'items': items.tolist(),
        **item_catalog(item_metas),
        'attributes': attributes,
        'dropped_attributes': dropped,
        'text_encoder': text_info,
        'image_encoder': image_info,
        'split': {'protocol': config.split, 'seed': config.seed},
        'k_core': config.k_core,
        'sources': [{'path': str(p), 'sha256': sha256_file(p), 'read': s.as_dict()}
                    for p, s in ((config.reviews, review_stats), (config.meta, meta_stats))
                    if p is not None],
        'duplicates_dropped': duplicates,
        'build_config': config.to_dict(),
        'stats': stats,
    }
    with timer.stage('write'):
        save_graph(config.out, data, dict(meta, stage_seconds=timer.seconds))
    meta['stage_seconds'] = timer.seconds
    return meta

