"""Synthetic Amazon-2014 dumps with planted, known user preferences.

The library ships no real data, so its examples and tests run on dumps written here. They have
the shape of the real 2014 files (review JSON lines, metadata as one Python dict literal per
line, one small image per item) and a signal that is known exactly:

* **Items** get a category (leaf of a ``Sports & Outdoors`` path), a brand nested under one or
  two categories, a price drawn from five non-overlapping bands with equal item counts (so the
  builder's equal-frequency 5-level binning recovers the bands; price correlates mildly with
  brand) and a target number of interactions from a Zipf-like curve floored at
  ``min_interactions``.
* **Users** get one planted preference: an attribute ``a`` (uniform over price, popularity,
  brand, category) and a value ``v`` of it, chosen with probability proportional to the
  value's interaction capacity. ``round(preference_strength * degree)`` of the user's
  interactions are drawn from items with value ``v`` (popularity: items of the top
  popularity band); the rest are a random matching of the remaining slots, i.e. follow the
  global Zipf-like popularity.
* **Degrees** are exact: every user and item first receives its target degree; slots are then
  matched (planted ones inside their value group, the rest freely) and repeated pairs are
  swapped away, so the distinct (user, item) pairs match the preset's totals exactly and a
  5-core filter keeps everything. ~0.5% extra review lines repeat a pair (later timestamp) to
  exercise de-duplication; they are not counted in the totals.
* **Text and images carry the attributes**: titles, descriptions and reviews mention brand,
  category nouns, price words by band ("cheap" … "luxury") and popularity words ("hidden
  gem" … "everyone has one") among noise sentences; each image's background colour is the
  category's, its shape and shape colour come from a hash of the brand, and its size and fill
  pattern from the price band.

``ground_truth.json`` records every user's planted ``(attribute, value)`` and every item's
attribute values, in the raw form a builder sees (brand and category strings, price band and
band edges, popularity band by equal-frequency levels of interaction counts).

The stages, one module each: :mod:`~data_builders.synthetic.items` (values and degrees),
:mod:`~data_builders.synthetic.planting` (interactions), :mod:`~data_builders.synthetic.reviews`
and :mod:`~data_builders.synthetic.metadata` (the dump's lines),
:mod:`~data_builders.synthetic.ground_truth`, and :mod:`~data_builders.synthetic.generator`,
which runs them and writes the files; how an item looks (words, titles, images) lives in
:mod:`~data_builders.synthetic.render`.
"""
from data_builders.synthetic.config import PRESETS, SyntheticConfig
from data_builders.synthetic.generator import generate
from data_builders.synthetic.items import equal_frequency_levels, rank_curve_counts

__all__ = ['PRESETS', 'SyntheticConfig', 'equal_frequency_levels', 'generate',
           'rank_curve_counts']
