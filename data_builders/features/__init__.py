"""Item features: documents and images → ``x_text [I, d_t]`` and ``x_image [I, d_v]``.

:mod:`~data_builders.features.stage` is the builder's feature stage; it builds the item
documents (:mod:`~data_builders.features.documents`) and encodes them
(:mod:`~data_builders.features.text`), finds or downloads the images
(:mod:`~data_builders.features.images`, :mod:`~data_builders.features.fetch`) and encodes them
(:mod:`~data_builders.features.images`, :mod:`~data_builders.features.efficientnet_lite`), with
an on-disk cache (:mod:`~data_builders.features.cache`), or imports precomputed matrices
(:mod:`~data_builders.features.precomputed`).
"""
from data_builders.features.stage import ImageOptions, TextOptions, image_features, text_features

__all__ = ['ImageOptions', 'TextOptions', 'image_features', 'text_features']
