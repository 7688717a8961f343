"""Line parsers for Amazon Reviews 2023 (Hou et al., 2024). All lines are JSON.

Reviews (``<Category>.jsonl``): ``user_id``, ``parent_asin`` (else ``asin``), ``rating``,
``timestamp`` in milliseconds (stored as whole seconds), ``text``, ``title``.

Metadata (``meta_<Category>.jsonl``): ``parent_asin`` (else ``asin``), ``title``, ``price``
(number, string or null), ``store`` (the brand; else ``details['Brand']``), ``categories``
(one path), ``description`` (list of strings), ``images`` (list of ``{thumb, large, hi_res,
variant}``: per image the best of ``hi_res``, ``large``, ``thumb``), ``details`` (a dict whose
``'Best Sellers Rank'`` — a ``{category: rank}`` dict or a rank string — gives the sales rank).
``extra`` holds ``main_category``, the other top-level scalars (``average_rating``,
``rating_number``, …) and the scalar ``details`` entries, all as strings.
"""
from __future__ import annotations

from typing import Any

from data_builders.readers.fields import (Issues, opt_brand, opt_description, opt_paths, opt_price,
                                          opt_rank, opt_rating, opt_text, opt_timestamp, opt_urls,
                                          review_text, scalar_extras)
from data_builders.readers.lines import load_json_object, require_id
from data_builders.readers.records import ItemMeta, Review

_ITEM_KEYS = ('parent_asin', 'asin')
_IMAGE_SIZES = ('hi_res', 'large', 'thumb')                 # best resolution first
_RANK_KEY = 'Best Sellers Rank'
_META_FIELDS = _ITEM_KEYS + ('title', 'price', 'store', 'categories', 'description', 'images',
                             'details')


def parse_review(line: str, issues: Issues | None = None) -> Review:
    """One 2023 review JSON line → :class:`Review`."""
    issues = [] if issues is None else issues
    obj = load_json_object(line)
    return Review(user_id=require_id(obj, ('user_id',), 'missing_user_id'),
                  item_id=require_id(obj, _ITEM_KEYS, 'missing_item_id'),
                  rating=opt_rating(obj.get('rating'), issues),
                  timestamp=opt_timestamp(obj.get('timestamp'), issues, millis=True),
                  text=review_text(obj.get('text'), obj.get('title'), issues))


def _best_image(image: Any) -> Any:
    if isinstance(image, dict):
        return next((image[k] for k in _IMAGE_SIZES if image.get(k)), None)
    return image                      # a bare URL string is accepted as it is


def parse_meta(line: str, issues: Issues | None = None) -> ItemMeta:
    """One 2023 metadata JSON line → :class:`ItemMeta`."""
    issues = [] if issues is None else issues
    obj = load_json_object(line)
    details = obj.get('details')
    details = details if isinstance(details, dict) else {}
    images = obj.get('images')
    images = images if isinstance(images, list) else ([] if images is None else [images])
    extra = scalar_extras(obj, skip=_META_FIELDS)
    extra.update({k: v for k, v in scalar_extras(details, skip=(_RANK_KEY,)).items()
                  if k not in extra})
    store = obj.get('store')
    return ItemMeta(item_id=require_id(obj, _ITEM_KEYS, 'missing_item_id'),
                    title=opt_text(obj.get('title'), issues, 'title'),
                    price=opt_price(obj.get('price'), issues),
                    brand=opt_brand(store if store else details.get('Brand'), issues),
                    categories=opt_paths(obj.get('categories'), issues, single=True),
                    sales_rank=opt_rank(details.get(_RANK_KEY), issues),
                    image_urls=opt_urls([_best_image(i) for i in images], issues),
                    description=opt_description(obj.get('description'), issues),
                    extra=extra)
