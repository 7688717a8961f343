"""Amazon dumps → format-independent records, one line at a time.

:mod:`~data_builders.readers.read` streams a file through the line parser of its format
(:mod:`~data_builders.readers.amazon_2014`, :mod:`~data_builders.readers.amazon_2018`,
:mod:`~data_builders.readers.amazon_2023`; :mod:`~data_builders.readers.sequence` for
time-ordered ``user item item ...`` lines), which are built from the line helpers of
:mod:`~data_builders.readers.lines` and the field coercers of
:mod:`~data_builders.readers.fields`; :mod:`~data_builders.readers.files` opens the files.
"""
from data_builders.readers.read import FORMATS, TIME_ORDERED, read_meta, read_reviews
from data_builders.readers.records import ItemMeta, ReadStats, Review

__all__ = ['FORMATS', 'TIME_ORDERED', 'ItemMeta', 'ReadStats', 'Review', 'read_meta',
           'read_reviews']
