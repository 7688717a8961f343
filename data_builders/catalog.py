"""Item titles and image URLs for ``meta.json``, aligned with ``meta['items']``.

The readers already parse every dump's title (cleaned, one line) and image URLs (best
resolution first: 2014 ``imUrl``; 2018 ``imageURLHighRes``, else ``imageURL``, else ``image``;
2023 per image ``hi_res``, else ``large``, else ``thumb``). This keeps the first of them per
item so that commands and the served page can show a title and a picture next to an id
(:class:`addrl_graph.data.catalog.ItemCatalog` reads them back).
"""
from __future__ import annotations

from urllib.parse import urlsplit

from addrl_graph.data.catalog import IMAGE_URLS_KEY, TITLES_KEY, cut
from data_builders.readers.records import ItemMeta

#: Longest title kept (characters): scraped titles can run to whole paragraphs; longer ones
#: end in ``…``.
MAX_TITLE = 300
#: Schemes an image URL may have: a page shows it as ``<img src>``, where ``javascript:`` or
#: ``file:`` must never reach.
URL_SCHEMES = ('http', 'https')


def image_url(meta: ItemMeta | None) -> str | None:
    """The item's best image URL with an ``http``/``https`` scheme and a host, or ``None``."""
    for url in (meta.image_urls if meta is not None else []):
        try:
            parts = urlsplit(url)
        except ValueError:          # e.g. an unbalanced '[' in the host
            continue
        if parts.scheme.lower() in URL_SCHEMES and parts.netloc:
            return url
    return None


def item_catalog(metas: list[ItemMeta | None]) -> dict[str, list[str | None]]:
    """``{'item_titles': [I], 'item_image_urls': [I]}`` from each item's metadata (in
    item-index order; ``None`` where an item has no metadata line, no title or no URL)."""
    return {TITLES_KEY: [cut(m.title, MAX_TITLE) if m is not None and m.title else None
                         for m in metas],
            IMAGE_URLS_KEY: [image_url(m) for m in metas]}
