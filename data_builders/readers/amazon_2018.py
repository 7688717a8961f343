"""Line parsers for the 2018 Amazon dumps (Ni et al., EMNLP 2019). All lines are JSON.

Reviews: the same fields as in 2014, so :func:`parse_review` is the 2014 parser.

Metadata, scraped from HTML and therefore messy:

- ``price`` is a string: ``'$25.00'``, ``'$1,250.00'``; a range ``'$10.99 - $15.99'`` gives the
  mean of its ends; HTML/CSS leftovers and ``''`` give None.
- ``rank`` is a string (``'1,362 in Gift Cards ('``) or a list (``['>#2,893,775 in Toys & Games
  (See Top 100 in Toys & Games)', '>#19 in Gift Cards > ...']``): the smallest rank is kept.
- ``category`` is one path; ``title``, ``brand``, ``category`` and ``description`` (a list or a
  string) are HTML-unescaped (``&amp;`` → ``&``) with tags removed; a title that is only markup
  (``'<span class="a-size-medium a-color-secondary"'``) becomes ``''`` (``invalid_title``).
- images: ``imageURLHighRes``, else ``imageURL``, else ``image`` (the first non-empty list).
- ``extra``: the scalar entries of ``details`` (keys without the trailing ``':'``) and the other
  non-empty top-level scalars such as ``main_cat``.
"""
from __future__ import annotations

from data_builders.readers.amazon_2014 import parse_review
from data_builders.readers.fields import (Issues, opt_brand, opt_description, opt_paths, opt_price,
                                          opt_rank, opt_text, opt_urls, scalar_extras)
from data_builders.readers.lines import load_json_object, require_id
from data_builders.readers.records import ItemMeta

__all__ = ['parse_review', 'parse_meta']
_IMAGE_KEYS = ('imageURLHighRes', 'imageURL', 'image')      # best resolution first
_META_FIELDS = ('asin', 'title', 'price', 'brand', 'category', 'rank', 'description',
                'details') + _IMAGE_KEYS


def _images(obj: dict, issues: Issues) -> list[str]:
    for key in _IMAGE_KEYS:
        value = obj.get(key)
        if value:
            urls = opt_urls(value if isinstance(value, list) else [value], issues)
            if urls:
                return urls
    return []


def parse_meta(line: str, issues: Issues | None = None) -> ItemMeta:
    """One 2018 metadata JSON line → :class:`ItemMeta`."""
    issues = [] if issues is None else issues
    obj = load_json_object(line)
    details = obj.get('details')
    extra = scalar_extras(obj, skip=_META_FIELDS)
    if isinstance(details, dict):
        extra.update({k: v for k, v in scalar_extras(details).items() if k not in extra})
    return ItemMeta(item_id=require_id(obj, ('asin',), 'missing_item_id'),
                    title=opt_text(obj.get('title'), issues, 'title'),
                    price=opt_price(obj.get('price'), issues),
                    brand=opt_brand(obj.get('brand'), issues),
                    categories=opt_paths(obj.get('category'), issues, single=True),
                    sales_rank=opt_rank(obj.get('rank'), issues),
                    image_urls=_images(obj, issues),
                    description=opt_description(obj.get('description'), issues),
                    extra=extra)
