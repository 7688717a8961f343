"""Line parsers for the 2014 Amazon dumps (McAuley et al., SIGIR 2015 / WWW 2016).

Reviews are JSON lines: ``reviewerID``, ``asin``, ``overall``, ``unixReviewTime`` (or
``reviewTime`` as ``'MM DD, YYYY'``), ``reviewText``, ``summary``.

Metadata (``meta_<Category>.json.gz``) is one *Python dict literal* per line (single quotes),
not JSON. It is parsed with ``ast.literal_eval`` only — never ``eval`` — and lines that start
like JSON (``{"``, as some mirrors convert them) are tried with ``json.loads`` first. Fields:
``asin``, ``title``, ``price`` (float), ``brand``, ``categories`` (list of paths), ``salesRank``
(``{top_category: rank}``), ``imUrl``, ``description``; ``related`` is ignored.

Both parsers raise :class:`~data_builders.readers.lines.LineError` for a line to skip and
append ``invalid_*`` keys to ``issues`` for fields they had to drop;
:mod:`data_builders.readers.read` reads files with them.
"""
from __future__ import annotations

from data_builders.readers.fields import (Issues, opt_brand, opt_description, opt_paths, opt_price,
                                          opt_rank, opt_rating, opt_text, opt_timestamp, opt_urls,
                                          review_text, review_time, scalar_extras)
from data_builders.readers.lines import load_json_object, load_literal_object, require_id
from data_builders.readers.records import ItemMeta, Review

_META_FIELDS = ('asin', 'title', 'price', 'brand', 'categories', 'salesRank', 'imUrl',
                'description', 'related')


def parse_review(line: str, issues: Issues | None = None) -> Review:
    """One 2014 review JSON line → :class:`Review`."""
    issues = [] if issues is None else issues
    obj = load_json_object(line)
    timestamp = opt_timestamp(obj.get('unixReviewTime'), issues)
    if timestamp is None and obj.get('unixReviewTime') is None:
        timestamp = review_time(obj.get('reviewTime'), issues)
    return Review(user_id=require_id(obj, ('reviewerID',), 'missing_user_id'),
                  item_id=require_id(obj, ('asin',), 'missing_item_id'),
                  rating=opt_rating(obj.get('overall'), issues),
                  timestamp=timestamp,
                  text=review_text(obj.get('reviewText'), obj.get('summary'), issues))


def parse_meta(line: str, issues: Issues | None = None) -> ItemMeta:
    """One 2014 metadata line (Python dict literal or JSON) → :class:`ItemMeta`."""
    issues = [] if issues is None else issues
    obj = load_literal_object(line)
    image = obj.get('imUrl')
    return ItemMeta(item_id=require_id(obj, ('asin',), 'missing_item_id'),
                    title=opt_text(obj.get('title'), issues, 'title'),
                    price=opt_price(obj.get('price'), issues),
                    brand=opt_brand(obj.get('brand'), issues),
                    categories=opt_paths(obj.get('categories'), issues),
                    sales_rank=opt_rank(obj.get('salesRank'), issues),
                    image_urls=opt_urls(image if isinstance(image, list) else [image], issues),
                    description=opt_description(obj.get('description'), issues),
                    extra=scalar_extras(obj, skip=_META_FIELDS))
