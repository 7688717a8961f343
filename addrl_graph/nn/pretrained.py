"""A trained model as a folder that travels without its run: Hugging Face's
``save_pretrained(dir)`` / ``from_pretrained(dir)`` for AD-DRL and every registered baseline.

A pretrained folder holds three files, written atomically, ``config.json`` last:

- ``model.safetensors``: the state dict (:mod:`safetensors`: tensors only, nothing pickled).
- ``id_maps.json``: the graph's ids, aligned with the model's rows: ``users [U]``, ``items
  [I]`` and every attribute's ``values [V_a]`` (the value names ``item.attr`` indexes).
- ``config.json``: the format and its version, the registry name of the model
  (:data:`~addrl_graph.nn.registry.MODEL_NAMES`), its configuration (AD-DRL's
  :class:`~addrl_graph.nn.config.ModelConfig`, or the baseline's options), the sizes it was
  built for (``U``, ``I``, text / image widths ``d_t`` / ``d_v``, attributes and ``V_a``), the
  sha256 of the graph it was trained on and the sha256 of the two files above.

The model does not own the graph: :meth:`Pretrained.from_pretrained` rebuilds the model from
``config.json`` alone and returns it with its id maps; ranking still takes a
:class:`~addrl_graph.data.train_graph.TrainGraph` of a graph with the same ids
(:meth:`Pretrained.check_graph`).
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load as load_safetensors, save as save_safetensors
from torch import nn

from addrl_graph.data.train_graph import TrainGraph
from addrl_graph.errors import CheckpointError, ConfigError
from addrl_graph.io import atomic_write_bytes, atomic_write_json, read_json, sha256_file
from addrl_graph.nn.config import ModelConfig
from addrl_graph.nn.model import ADDRL
from addrl_graph.nn.registry import BASELINES, MODEL_NAMES, build_model

FORMAT, FORMAT_VERSION = 'addrl-graph-pretrained', 1
CONFIG_FILE, WEIGHTS_FILE, ID_MAPS_FILE = 'config.json', 'model.safetensors', 'id_maps.json'
SIZE_KEYS = ('num_users', 'num_items', 'text_dim', 'image_dim', 'attributes', 'num_values')


@dataclass
class IdMaps:
    """Row ``r`` of the model's user (item) table is ``users[r]`` (``items[r]``); value ``v``
    of attribute ``a`` is ``attributes[a][v]``."""
    users: list[str]
    items: list[str]
    attributes: dict[str, list[Any]]

    @classmethod
    def from_meta(cls, meta: dict[str, Any]) -> 'IdMaps':
        """The id maps of a graph's ``meta.json``."""
        return cls(list(meta['users']), list(meta['items']),
                   {a['name']: list(a['values']) for a in meta['attributes']})


@dataclass
class Pretrained:
    """A model with what rebuilds it and the ids of the graph it was trained on.

    Args:
        model: the model (``eval`` mode after :meth:`from_pretrained`).
        name: its name in :data:`~addrl_graph.nn.registry.MODEL_NAMES`.
        options: AD-DRL's :meth:`ModelConfig.to_dict`, or the baseline's keyword arguments.
        sizes: ``num_users``, ``num_items``, ``text_dim``, ``image_dim``, ``attributes``
            (names) and ``num_values``: what :func:`build_model` sized the model for.
        id_maps: the graph's ids (:class:`IdMaps`).
        graph_sha256: the sha256 of the graph's ``graph.pt`` (``None`` if unknown).
    """
    model: nn.Module
    name: str
    options: dict[str, Any]
    sizes: dict[str, Any]
    id_maps: IdMaps
    graph_sha256: str | None

    @classmethod
    def from_model(cls, model: nn.Module, graph: TrainGraph, meta: dict[str, Any],
                   options: dict[str, Any] | None = None) -> 'Pretrained':
        """Wrap a model trained on ``graph`` (of the graph whose ``meta.json`` is ``meta``).

        Args:
            options: a baseline's options, as in a run's ``config.json`` ``train.baseline``
                (:obj:`None` values are left out); AD-DRL takes its own ``model.config``.

        Raises:
            ConfigError: an unregistered model, a baseline without options, or options,
                ``graph`` and ``meta`` that do not rebuild a model of the same parameters.
        """
        name = model_name(model)
        if name == 'addrl':
            options = model.config.to_dict()
        elif options is None:
            raise ConfigError(f'save_pretrained needs the options {name} was built with '
                              "(a run's config.json train.baseline; got None)")
        options = {k: v for k, v in options.items() if v is not None or name == 'addrl'}
        sizes = graph_sizes(graph)
        id_maps = IdMaps.from_meta(meta)
        _check_ids(sizes, id_maps, 'the graph given', ConfigError)
        with torch.device('meta'):  # shapes only: no memory, no initialisation cost
            expected = rebuild(name, options, sizes).state_dict()
        _check_state(expected, model.state_dict(), f'the {name} model given', ConfigError)
        return cls(model, name, options, sizes, id_maps, meta.get('graph_sha256'))

    def save_pretrained(self, directory: str | Path) -> Path:
        """Write ``model.safetensors``, ``id_maps.json`` and ``config.json`` into
        ``directory`` (created); returns it."""
        directory = Path(directory)
        if directory.exists() and not directory.is_dir():
            raise ConfigError(f'save_pretrained: {directory} is a file, not a folder')
        state = {k: v.detach().cpu().contiguous() for k, v in self.model.state_dict().items()}
        weights = save_safetensors(state, metadata={'format': 'pt', 'model': self.name})
        id_maps = (json.dumps(vars(self.id_maps), indent=1) + '\n').encode()
        atomic_write_bytes(directory / WEIGHTS_FILE, weights)
        atomic_write_bytes(directory / ID_MAPS_FILE, id_maps)
        atomic_write_json(directory / CONFIG_FILE, {
            'format': FORMAT, 'format_version': FORMAT_VERSION, 'model': self.name,
            'model_config': self.options, 'sizes': self.sizes,
            'graph_sha256': self.graph_sha256,
            'sha256': {WEIGHTS_FILE: hashlib.sha256(weights).hexdigest(),
                       ID_MAPS_FILE: hashlib.sha256(id_maps).hexdigest()}})
        return directory

    @classmethod
    def from_pretrained(cls, directory: str | Path,
                        map_location: str | torch.device = 'cpu') -> 'Pretrained':
        """Rebuild the model a :meth:`save_pretrained` folder describes and load its weights
        onto ``map_location``; the model is returned in ``eval`` mode.

        Raises:
            CheckpointError: one line naming the file: a file missing, a ``config.json`` that
                is not this format (a run's, another library's), a checksum that differs, or
                weights that do not fit the model the config describes.
        """
        directory = Path(directory)
        config = read_config(directory)
        name, options, sizes = config['model'], config['model_config'], config['sizes']
        id_maps = _read_checked(directory, ID_MAPS_FILE, config, parse_id_maps)
        _check_ids(sizes, id_maps, directory / ID_MAPS_FILE, CheckpointError)
        try:
            model = rebuild(name, options, sizes)
        except (ConfigError, TypeError) as e:  # TypeError: an option the model does not take
            raise CheckpointError(f'{directory / CONFIG_FILE}: model_config does not build '
                                  f'{name} ({e})') from None
        state = _read_checked(directory, WEIGHTS_FILE, config, load_safetensors)
        with safe_open(directory / WEIGHTS_FILE, 'pt') as f:
            written_by = (f.metadata() or {}).get('model')
        if written_by not in (None, name):
            raise CheckpointError(f'{directory / WEIGHTS_FILE} holds a {written_by} model but '
                                  f'{CONFIG_FILE} describes {name}: the files come from two '
                                  'folders')
        _check_state(model.state_dict(), state, directory / WEIGHTS_FILE, CheckpointError)
        model.load_state_dict(state)
        return cls(model.to(map_location).eval(), name, options, sizes, id_maps,
                   config.get('graph_sha256'))

    def check_graph(self, meta: dict[str, Any], same_graph: bool = True) -> None:
        """Raise unless the graph of ``meta`` has this model's users, items and attribute
        values in the same order (and, with ``same_graph``, is the very graph it was trained
        on: same ``graph_sha256``).

        Raises:
            CheckpointError: naming what differs.
        """
        given = IdMaps.from_meta(meta)
        for key in ('users', 'items', 'attributes'):
            if getattr(given, key) != getattr(self.id_maps, key):
                raise CheckpointError(f'the graph given has other {key} than the graph the '
                                      f'{self.name} model was trained on (ids and their order '
                                      'must be the same)')
        if same_graph and self.graph_sha256 and meta.get('graph_sha256') != self.graph_sha256:
            raise CheckpointError(f'the graph given is not the one the {self.name} model was '
                                  f'trained on (graph_sha256 {meta.get("graph_sha256")!r}, '
                                  f'expected {self.graph_sha256!r}); pass same_graph=False '
                                  'to score a graph with the same ids anyway')


def model_name(model: nn.Module) -> str:
    """The registry name of ``model``'s class."""
    names = {ADDRL: 'addrl', **{cls: name for name, cls in BASELINES.items()}}
    if type(model) not in names:
        raise ConfigError(f'save_pretrained takes a model of {MODEL_NAMES} '
                          f'(got {type(model).__name__})')
    return names[type(model)]


def rebuild(name: str, options: dict[str, Any], sizes: dict[str, Any]) -> nn.Module:
    """The untrained model ``name`` of ``options`` sized by ``sizes`` (no graph needed)."""
    graph = shape_graph(sizes)
    if name == 'addrl':
        return build_model('addrl', graph, ModelConfig.from_dict(options))
    return build_model(name, graph, baseline_options=options)


def graph_sizes(graph: TrainGraph) -> dict[str, Any]:
    """What :func:`~addrl_graph.nn.registry.build_model` reads from a graph."""
    return {'num_users': graph.num_users, 'num_items': graph.num_items,
            'text_dim': graph.x_text.size(1), 'image_dim': graph.x_image.size(1),
            'attributes': list(graph.attribute_names), 'num_values': list(graph.num_values)}


def shape_graph(sizes: dict[str, Any]) -> TrainGraph:
    """A :class:`TrainGraph` of ``sizes`` whose tensors hold no data (device ``meta``): what a
    model's ``from_graph`` needs to size its parameters."""
    def empty(*shape: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        return torch.empty(*shape, dtype=dtype, device='meta')
    users, items = int(sizes['num_users']), int(sizes['num_items'])
    return TrainGraph(empty(2, 0, dtype=torch.long), users, empty(items, int(sizes['text_dim'])),
                      empty(items, int(sizes['image_dim'])), empty(items, dtype=torch.bool),
                      empty(items, dtype=torch.bool),
                      empty(items, len(sizes['attributes']), dtype=torch.long),
                      list(sizes['attributes']), [int(v) for v in sizes['num_values']])


def read_config(directory: Path) -> dict[str, Any]:
    """``directory/config.json`` if :meth:`Pretrained.save_pretrained` wrote it."""
    path = directory / CONFIG_FILE
    if not path.is_file():
        raise CheckpointError(f'{path} not found: is {directory} a folder written by '
                              'save_pretrained (python -m addrl_graph export-model)?')
    config = read_json(path, CheckpointError)
    if not isinstance(config, dict) or config.get('format') != FORMAT:
        hint = (' (it is a training run folder: export it with python -m addrl_graph '
                f'export-model --run {directory} --out DIR)'
                if isinstance(config, dict) and 'train' in config else '')
        raise CheckpointError(f'{path} is not a pretrained addrl-graph model (format '
                              f'{config.get("format") if isinstance(config, dict) else None!r},'
                              f' expected {FORMAT!r}){hint}')
    if config.get('format_version') != FORMAT_VERSION:
        raise CheckpointError(f'{path}: format_version {config.get("format_version")!r}; this '
                              f'version of addrl-graph reads version {FORMAT_VERSION}')
    if config.get('model') not in MODEL_NAMES:
        raise CheckpointError(f'{path}: model must be one of {MODEL_NAMES} '
                              f'(got {config.get("model")!r})')
    sizes = config.get('sizes')
    if (not isinstance(config.get('model_config'), dict) or not isinstance(sizes, dict)
            or set(sizes) != set(SIZE_KEYS) or not isinstance(config.get('sha256'), dict)):
        raise CheckpointError(f'{path}: needs model_config, sizes ({", ".join(SIZE_KEYS)}) and '
                              'sha256 (a hand edit, or another version?)')
    return config


def _read_checked(directory: Path, name: str, config: dict[str, Any], parse: Any) -> Any:
    """Parse ``directory/name`` after comparing its sha256 with ``config.json``'s."""
    path = directory / name
    if not path.is_file():
        raise CheckpointError(f'{path} not found: the folder is incomplete; copy the whole '
                              'save_pretrained folder')
    if sha256_file(path) != config['sha256'].get(name):
        raise CheckpointError(f'{path} does not match the checksum in {CONFIG_FILE}: the file '
                              'is corrupted or comes from another model')
    try:
        return parse(path.read_bytes())
    except (SafetensorError, ValueError, TypeError) as e:
        raise CheckpointError(f'{path} cannot be read ({e})') from None


def parse_id_maps(payload: bytes) -> IdMaps:
    """``id_maps.json``'s bytes as :class:`IdMaps`."""
    values = json.loads(payload)
    if not (isinstance(values, dict) and set(values) == {'users', 'items', 'attributes'}
            and isinstance(values['attributes'], dict)):
        raise ValueError('expected a JSON object with users, items and attributes')
    return IdMaps(**values)


def _check_ids(sizes: dict[str, Any], id_maps: IdMaps, source: Any,
               error: type[Exception]) -> None:
    counts = {'users': sizes['num_users'], 'items': sizes['num_items'],
              **{f'values of {a}': v for a, v in zip(sizes['attributes'], sizes['num_values'])}}
    found = {'users': len(id_maps.users), 'items': len(id_maps.items),
             **{f'values of {a}': len(v) for a, v in id_maps.attributes.items()}}
    if list(id_maps.attributes) != list(sizes['attributes']) or counts != found:
        raise error(f'{source}: its ids do not fit the model (model: {counts}, ids: {found})')


def _check_state(expected: dict[str, torch.Tensor], state: dict[str, torch.Tensor],
                 source: Any, error: type[Exception]) -> None:
    """Raise ``error`` unless ``state`` has exactly ``expected``'s keys and shapes."""
    missing, unexpected = sorted(set(expected) - set(state)), sorted(set(state) - set(expected))
    if missing or unexpected:
        raise error(f'{source} does not fit the model its config describes: missing '
                    f'{_few(missing)}, unexpected {_few(unexpected)}')
    for key, tensor in expected.items():  # in the model's order: the first layer first
        if tuple(state[key].shape) != tuple(tensor.shape):
            raise error(f'{source}: parameter {key} has shape {tuple(state[key].shape)} but '
                        f'the model its config describes needs {tuple(tensor.shape)}')


def _few(keys: list[str], shown: int = 3) -> str:
    """``keys`` for a one-line message: the first ``shown`` and how many more."""
    more = f' and {len(keys) - shown} more' if len(keys) > shown else ''
    return f'{len(keys)} ({", ".join(keys[:shown])}{more})' if keys else 'none'
