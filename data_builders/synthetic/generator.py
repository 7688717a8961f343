"""Write a synthetic dump: :func:`generate` runs items → interactions → files → images."""
from __future__ import annotations

import gzip
import json
import logging
import os
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from data_builders.errors import DataBuildError
from data_builders.folders import make_folder
from data_builders.synthetic.config import PRESETS, SyntheticConfig
from data_builders.synthetic.ground_truth import ground_truth
from data_builders.synthetic.items import Items, make_items, random_ids
from data_builders.synthetic.metadata import meta_lines
from data_builders.synthetic.planting import ATTRIBUTES, Interactions, plant
from data_builders.synthetic.render import (ItemLook, brand_names, image_specs, item_texts,
                                            render_images)
from data_builders.synthetic.reviews import review_lines

logger = logging.getLogger(__name__)


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f'.{path.name}.tmp{os.getpid()}')
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _write_gzip_lines(path: Path, lines: list[str]) -> None:
    """Deterministic gzip (no name, mtime 0) of newline-terminated lines, written atomically."""
    data = ('\n'.join(lines) + '\n').encode('utf-8')
    _write_atomic(path, gzip.compress(data, compresslevel=6, mtime=0))


def _resolve_config(preset: str | SyntheticConfig) -> tuple[str, SyntheticConfig]:
    if isinstance(preset, SyntheticConfig):
        return 'custom', preset
    if preset not in PRESETS:
        raise DataBuildError(f'unknown synthetic preset {preset!r}; use one of '
                             f'{sorted(PRESETS)} or pass a SyntheticConfig')
    return preset, PRESETS[preset]


def generate(out_dir: str | os.PathLike, preset: str | SyntheticConfig = 'small',
             seed: int | None = None, images: bool = True, progress: bool = True
             ) -> dict[str, Any]:
    """Write a synthetic 2014-format dump with planted preferences into ``out_dir``.

    Files: ``reviews.json.gz`` (review JSON lines), ``meta.json.gz`` (one Python dict literal
    per line), ``images/<asin>.png`` (unless ``images=False``) and ``ground_truth.json``.
    Output is byte-identical for the same config and seed.

    Args:
        out_dir: folder to write into (created; a file there is a :class:`DataBuildError`).
        preset: ``'small'``, ``'sports'`` or a :class:`SyntheticConfig`.
        seed: random seed (None: the config's ``seed``, 0 for the presets).
        images: also draw one PNG per item.
        progress: show a tqdm bar over images.

    Returns:
        A summary: paths, exact totals, counts of missing fields, achieved planted share per
        attribute and seconds per stage.
    """
    name, cfg = _resolve_config(preset)
    seed = cfg.seed if seed is None else int(seed)
    cfg = replace(cfg, seed=seed)
    cfg.validate()
    out = make_folder(out_dir)
    rng = np.random.default_rng(seed)
    seconds: dict[str, float] = {}
    t0 = time.perf_counter()

    items = make_items(cfg, rng)
    inter = plant(cfg, items, rng)
    brands = brand_names(rng, cfg.num_brands)
    user_ids = random_ids(rng, cfg.num_users, 'A', 14)
    asins = random_ids(rng, cfg.num_items, 'B00', 10)
    seconds['structure'] = time.perf_counter() - t0
    logger.info('synthetic %s: planted %d interactions in %.1fs', name, len(inter.users),
                seconds['structure'])

    t = time.perf_counter()
    look = ItemLook(items.category, items.brand, items.latent_band, items.popularity_band,
                    brands)
    titles, descriptions, nouns = item_texts(look, rng)
    reviews, n_dup = review_lines(look, inter, nouns, user_ids, asins, cfg.duplicate_share,
                                   rng)
    metas = meta_lines(items, look, titles, descriptions, asins, cfg.num_categories, rng)
    seconds['text'] = time.perf_counter() - t
    t = time.perf_counter()
    truth = ground_truth(cfg, name, seed, items, inter, brands, user_ids, asins)
    paths = _write_files(out, reviews, metas, truth)
    seconds['write'] = time.perf_counter() - t

    specs = image_specs(look, cfg.image_size, rng)    # drawn even when not rendered
    num_images = 0
    if images:
        t = time.perf_counter()
        paths['images'] = out / 'images'
        num_images = render_images(paths['images'], asins, specs, items.has_image,
                                    cfg.image_workers, progress)
        seconds['images'] = time.perf_counter() - t
    seconds['total'] = time.perf_counter() - t0
    summary = {
        'preset': name, 'seed': seed, 'out_dir': str(out),
        'paths': {k: str(v) for k, v in paths.items()},
        'users': cfg.num_users, 'items': cfg.num_items,
        'interactions': len(inter.users), 'review_lines': len(reviews),
        'duplicate_lines': n_dup, 'brands': cfg.num_brands, 'categories': cfg.num_categories,
        **_missing_fields(items),
        'images': num_images,
        'planted_share': _planted_share(inter, cfg.num_users),
        'popularity_bands': [b['band'] for b in truth['popularity_bands']],
        'seconds': {k: round(v, 2) for k, v in seconds.items()},
    }
    logger.info('synthetic %s written to %s in %.1fs', name, out, seconds['total'])
    return summary


def _write_files(out: Path, reviews: list[str], metas: list[str],
                 truth: dict[str, Any]) -> dict[str, Path]:
    """Write the review and metadata dumps and ``ground_truth.json``; returns their paths."""
    paths = {'reviews': out / 'reviews.json.gz', 'meta': out / 'meta.json.gz',
             'ground_truth': out / 'ground_truth.json'}
    _write_gzip_lines(paths['reviews'], reviews)
    _write_gzip_lines(paths['meta'], metas)
    _write_atomic(paths['ground_truth'], json.dumps(truth).encode('utf-8'))
    return paths


def _missing_fields(items: Items) -> dict[str, int]:
    return {'items_without_meta': int((~items.has_meta).sum()),
            'items_without_brand': int((items.brand < 0).sum()),
            'items_without_price': int((items.price_band < 0).sum()),
            'items_without_image': int((~items.has_image).sum())}


def _planted_share(inter: Interactions, num_users: int) -> dict[str, float]:
    """Share of each attribute's users' interactions that were planted on their value."""
    share = {}
    for a, attr in enumerate(ATTRIBUTES):
        mask = inter.attribute == a
        planted = np.bincount(inter.users[inter.planted], minlength=num_users)[mask]
        share[attr] = round(float(planted.sum() / inter.user_degree[mask].sum()), 4)
    return share
