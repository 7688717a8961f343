"""The graph of Amazon review dumps as a PyTorch Geometric ``InMemoryDataset``:
``AmazonGraph(root, name, format, **build_options)[0]`` is the ``HeteroData`` of
:mod:`addrl_graph.data.schema`, built once by :func:`data_builders.build.build`.

It follows PyG's dataset conventions (``torch_geometric.data.InMemoryDataset``; its own
``MovieLens`` and ``AmazonBook``): the dumps lie in ``root/raw`` (:attr:`raw_file_names`), the
processed graph in ``root/processed`` (:attr:`processed_file_names`), ``force_reload=True``
rebuilds, ``pre_transform`` runs once before the result is saved and ``transform`` on every
access. The processed graph sits in a folder of its own, ``root/processed/<key>``, whose key is
a short sha256 of the build options and of the dumps' names and sizes (as ``MovieLens`` keys its
file by the text model), so a build with other options never reuses a stale graph. That folder
is an ordinary graph folder (``graph.pt`` + ``meta.json``): ``python -m addrl_graph train --data
root/processed/<key>`` trains on it.

The class lives in ``data_builders`` rather than ``addrl_graph``: it runs the builder, and
``addrl_graph`` never imports ``data_builders`` (``tests/test_layout.py``).
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from torch_geometric.data import HeteroData, InMemoryDataset

from addrl_graph.data.schema import GRAPH_FILE, META_FILE, load_graph
from data_builders.attributes import AttributeConfig
from data_builders.build import BuildConfig, build
from data_builders.errors import DataBuildError

#: The dumps' file names, per format, of a category ``name`` (e.g. ``Gift_Cards``, ``Beauty``),
#: as their publishers name them, and where they are published.
DUMP_NAMES = {'2014': ('reviews_{name}_5.json.gz', 'meta_{name}.json.gz'),
              '2018': ('{name}_5.json.gz', 'meta_{name}.json.gz'),
              '2023': ('{name}.jsonl.gz', 'meta_{name}.jsonl.gz')}
SOURCES = {'2014': 'https://jmcauley.ucsd.edu/data/amazon/',
           '2018': 'https://nijianmo.github.io/amazon/',
           '2023': 'https://amazon-reviews-2023.github.io/'}
#: Build options that are inputs in ``root/raw`` (a relative path is read there).
RAW_OPTIONS = ('images', 'text_features', 'image_features')
#: Build options that say how a graph is built, not what it is: left out of the key.
UNKEYED = ('reviews', 'meta', 'out', 'cache_dir', 'progress', 'device', 'batch_size')


class AmazonGraph(InMemoryDataset):
    r"""The user–item–attribute graph of an Amazon review category (one ``HeteroData``).

    Args:
        root (str): folder of ``raw/`` (the dumps, placed there by hand) and ``processed/``.
        name (str, optional): the category as in the dumps' names (``Gift_Cards``); it names
            the files :data:`DUMP_NAMES` lists. Not needed when ``reviews`` is given.
        format (str): ``'2014'``, ``'2018'`` or ``'2023'``. (default: ``'2018'``)
        reviews (str, optional): the review dump's file name in ``raw/`` (default: the name
            of ``name``'s dump).
        metadata (str or bool): the metadata dump's file name in ``raw/``; :obj:`True`: the
            name of ``name``'s; :obj:`False`: none (every attribute is then ``unknown`` but
            popularity). (default: :obj:`True`)
        transform (callable, optional): applied to the graph on every access.
        pre_transform (callable, optional): applied once after the build; its result is saved
            as ``processed/<key>/pre_transformed_<8 hex>.pt``, keyed by its ``repr`` (a
            lambda's repr does not change with its body: use ``force_reload`` then).
        force_reload (bool): build again even if the processed graph exists.
        log (bool): PyG's ``Processing...`` / ``Done!`` lines.
        **build_options: any other field of :class:`~data_builders.build.BuildConfig`
            (``text_encoder='none'``, ``split='mmrec'``, ``k_core``, ``attributes`` as an
            :class:`~data_builders.attributes.AttributeConfig` or a dict of its fields, ...);
            relative ``images`` / ``text_features`` / ``image_features`` paths are read in
            ``raw/``. The feature cache defaults to ``root/cache``.

    Attributes:
        meta (dict): the graph's ``meta.json``: ``users`` and ``items`` (ids in node order),
            ``attributes`` (names and value names), ``stats``, the build's options.
        graph_dir (pathlib.Path): ``root/processed/<key>``.

    Raises:
        DataBuildError: an unknown or bad option, or dumps missing from ``raw/`` (naming the
            files to place there), or dumps that make no graph.
    """

    def __init__(self, root: str, name: str | None = None, format: str = '2018',
                 reviews: str | None = None, metadata: str | bool = True,
                 transform: Callable | None = None, pre_transform: Callable | None = None,
                 force_reload: bool = False, log: bool = True, **build_options: Any):
        self.name, self.format = name, format
        self.root_path = Path(root).expanduser()
        self.dump_names = _dump_names(name, format, reviews, metadata)
        self.config = self._config(build_options)
        self.key = _options_key(self.config, self.root_path / 'raw', self.dump_names)
        self.config = dataclasses.replace(self.config, out=self.graph_dir)
        with warnings.catch_warnings():
            # PyG warns when pre_transform differs from the last one processed, as it would
            # reuse that result; here each pre_transform has a file of its own (see
            # pre_transformed_file), so the warning does not apply.
            warnings.filterwarnings('ignore', message='The `pre_transform` argument differs')
            super().__init__(str(self.root_path), transform, pre_transform,
                             force_reload=force_reload, log=log)
        data, self.meta = load_graph(self.graph_dir)
        if self.pre_transform is not None:
            self.load(str(self.graph_dir / self.pre_transformed_file), data_cls=HeteroData)
        else:
            self.data, self.slices = self.collate([data])

    def _config(self, options: dict[str, Any]) -> BuildConfig:
        """The build's config; the options are checked here, before any file is read."""
        raw = self.root_path / 'raw'
        takes = {f.name for f in dataclasses.fields(BuildConfig)} - {'format', 'reviews', 'meta',
                                                                     'out', 'overwrite'}
        unknown = sorted(set(options) - takes)
        if unknown:
            raise DataBuildError(f'AmazonGraph takes no build option {unknown} (options: '
                                 f'{sorted(takes)}; the dumps: name=, reviews=, metadata=)')
        if isinstance(options.get('attributes'), dict):
            options['attributes'] = AttributeConfig(**options['attributes'])
        for option in RAW_OPTIONS:
            if options.get(option) is not None:
                options[option] = raw / options[option]
        options['cache_dir'] = options.get('cache_dir') or self.root_path / 'cache'
        reviews, meta = self.dump_names
        return BuildConfig(self.format, raw / reviews, self.root_path / 'processed',
                           meta=None if meta is None else raw / meta, **options)

    @property
    def graph_dir(self) -> Path:
        return self.root_path / 'processed' / self.key

    @property
    def processed_dir(self) -> str:
        """``root/processed/<key>``: one folder per graph, with PyG's own bookkeeping files."""
        return str(self.graph_dir)

    @property
    def pre_transformed_file(self) -> str:
        """``pre_transformed_<8 hex>.pt``, keyed by ``pre_transform``'s repr (less memory
        addresses): another transform gets another file."""
        text = re.sub(r' at 0x[0-9a-fA-F]+', '', repr(self.pre_transform))
        return f'pre_transformed_{hashlib.sha256(text.encode()).hexdigest()[:8]}.pt'

    @property
    def raw_file_names(self) -> list[str]:
        """The dumps and any other input of the build (features, an image folder)."""
        raw = self.root_path / 'raw'
        inputs = [getattr(self.config, option) for option in RAW_OPTIONS]
        return [n for n in self.dump_names if n is not None] + [
            str(p.relative_to(raw)) if p.is_relative_to(raw) else str(p)
            for p in map(Path, filter(None, inputs))]

    @property
    def processed_file_names(self) -> list[str]:
        return [GRAPH_FILE, META_FILE] + ([self.pre_transformed_file] if self.pre_transform
                                          else [])

    def download(self) -> None:
        """The dumps cannot be fetched here (they are published behind a form or as large
        files): say which to place in ``raw/``."""
        missing = [n for n in self.raw_file_names if not (self.root_path / 'raw' / n).exists()]
        source = f' (the {self.format} Amazon review data: {SOURCES[self.format]})' \
            if self.format in SOURCES else ''
        raise DataBuildError(f'AmazonGraph does not download: place {", ".join(missing)} in '
                             f'{self.raw_dir}{source}, or name the files you have with '
                             'reviews= and metadata=')

    def process(self) -> None:
        """Build the graph into ``processed/<key>`` (unless only the pre-transformed file is
        missing), then save ``pre_transform``'s result."""
        whole = all((self.graph_dir / f).is_file() for f in (GRAPH_FILE, META_FILE))
        if self.force_reload or not whole:
            build(dataclasses.replace(self.config, overwrite=True))
        if self.pre_transform is not None:
            data, _ = load_graph(self.graph_dir)
            self.save([self.pre_transform(data)], str(self.graph_dir / self.pre_transformed_file))

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}({self.name or self.dump_names[0]}, '
                f'format={self.format}, key={self.key})')


def _dump_names(name: str | None, fmt: str, reviews: str | None,
                metadata: str | bool) -> tuple[str, str | None]:
    """The review and metadata dumps' file names (``None``: no metadata)."""
    if (reviews is None or metadata is True) and (name is None or fmt not in DUMP_NAMES):
        raise DataBuildError(f'AmazonGraph needs name= (a category, e.g. Gift_Cards) and a '
                             f'format of {sorted(DUMP_NAMES)} to name the dumps, or reviews= and '
                             f'metadata= (got name={name!r}, format={fmt!r})')
    defaults = [n.format(name=name) for n in DUMP_NAMES[fmt]] if name else [None, None]
    meta = defaults[1] if metadata is True else (metadata or None)
    return reviews or defaults[0], meta


def _options_key(config: BuildConfig, raw: Path, dumps: tuple[str, str | None]) -> str:
    """12 hex digits of the sha256 of what makes the graph: the options (but
    :data:`UNKEYED`), the dumps' names and sizes (a dump replaced by another of another size
    is not reused), and the other inputs' paths relative to ``raw``."""
    options = {k: v for k, v in config.to_dict().items() if k not in UNKEYED}
    for option in RAW_OPTIONS:
        path = getattr(config, option)
        if path is not None:
            options[option] = str(Path(path).relative_to(raw)) if Path(path).is_relative_to(
                raw) else str(path)
    options['dumps'] = [(n, (raw / n).stat().st_size if (raw / n).is_file() else None)
                        for n in dumps if n is not None]
    text = json.dumps(options, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:12]
