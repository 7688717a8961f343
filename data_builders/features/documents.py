"""Item documents: the text an item's features are encoded from.

One document per item joins its title, brand, categories and description with (optionally) the
texts of its *training* reviews, so held-out reviews cannot leak into the features.
"""
from __future__ import annotations

from collections import defaultdict
from typing import Any

import numpy as np

from data_builders.readers.records import ItemMeta

MAX_REVIEWS_PER_DOCUMENT = 20


def build_item_document(
    title: str | None = None,
    brand: str | None = None,
    categories: list[str] | None = None,
    description: str | list[str] | None = None,
    reviews: list[str] | None = None,
    max_chars: int = 4000,
) -> str:
    """One text per item: title, brand, categories, description, then review texts.

    Parts are whitespace-normalised, empty parts dropped, categories de-duplicated in order,
    and the result is cut at ``max_chars`` characters (at a word boundary when one is near).
    The tokenizer truncates again at the encoder's token limit; ``max_chars`` only bounds the
    tokenizer's work for items with thousands of reviews.

    Example: ``"Nike Air. Brand: Nike. Categories: Shoes, Running. Light shoe. Reviews: Great."``
    """
    def clean(text: Any) -> str:
        if text is None:
            return ''
        if isinstance(text, (list, tuple)):
            text = ' '.join(str(t) for t in text if t)
        return ' '.join(str(text).split())

    def sentence(text: str) -> str:
        return text if text[-1:] in '.!?' else text + '.'

    parts = []
    if t := clean(title):
        parts.append(sentence(t))
    if b := clean(brand):
        parts.append(sentence(f'Brand: {b}'))
    cats = list(dict.fromkeys(c for c in (clean(c) for c in categories or []) if c))
    if cats:
        parts.append(sentence('Categories: ' + ', '.join(cats)))
    if d := clean(description):
        parts.append(sentence(d))
    revs = [r for r in (clean(r) for r in reviews or []) if r]
    if revs:
        parts.append('Reviews: ' + ' '.join(sentence(r) for r in revs))
    document = ' '.join(parts)
    if len(document) > max_chars:
        cut = document[:max_chars]
        space = cut.rfind(' ')
        document = cut[:space] if space > max_chars * 0.8 else cut
    return document


def item_documents(items: np.ndarray, metas: list[ItemMeta | None],
                   train_item_index: np.ndarray | None = None,
                   train_texts: np.ndarray | None = None) -> list[str]:
    """One document per item from its metadata and, optionally, its training reviews."""
    reviews: dict[int, list[str]] = defaultdict(list)
    if train_texts is not None:
        for i, text in zip(train_item_index.tolist(), train_texts.tolist()):
            if text and len(reviews[i]) < MAX_REVIEWS_PER_DOCUMENT:
                reviews[i].append(text)
    documents = []
    for i, meta in enumerate(metas):
        meta = meta or ItemMeta(item_id=str(items[i]))
        documents.append(build_item_document(
            meta.title, meta.brand, meta.categories, meta.description, reviews.get(i)))
    return documents
