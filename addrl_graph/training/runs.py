"""A training run's folder: save its checkpoints, reopen its config, rebuild its model.

``<run>/config.json`` records what rebuilds the model (:func:`~addrl_graph.training.config.
run_config`). A checkpoint is a pair: ``<name>.pt`` holds tensors and plain values only
(``torch.load(weights_only=True)``), ``<name>.json`` the epoch, the format version and the
sha256 of the ``.pt``. Both are written atomically, the ``.pt`` first, so a reader never trusts a
half-written file.

Format versions: 1 (before the ID encoders held the ego embeddings and the item views became a
module of their own), 2 (now). A version-1 AD-DRL state dict is renamed on load
(:func:`migrate_state`); a version this code does not know is refused, naming it.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch_geometric.data import HeteroData

from addrl_graph.data.schema import load_graph
from addrl_graph.data.train_graph import TrainGraph
from addrl_graph.errors import CheckpointError
from addrl_graph.io import (atomic_torch_save, atomic_write_json, load_tensors, read_json,
                            sha256_file)
from addrl_graph.nn.config import ModelConfig
from addrl_graph.nn.registry import build_model

FORMAT_VERSION = 2
#: Version-1 → version-2 prefixes of AD-DRL's parameter names.
_V1_PREFIXES = {'user_embedding.': 'id_encoder.user_embedding.',
                'item_embedding.': 'id_encoder.item_embedding.', 'encoder.': 'id_encoder.',
                'text_proj.': 'views.text_proj.', 'image_proj.': 'views.image_proj.',
                'attention.': 'views.attention.'}


def save_checkpoint(run_dir: str | Path, name: str, state: dict[str, Any],
                    info: dict[str, Any]) -> Path:
    """Write ``state`` (tensors / plain values) as ``<name>.pt`` and ``info``, the format
    version and the checksum as ``<name>.json``. Returns the ``.pt`` path."""
    run_dir = Path(run_dir)
    path = run_dir / f'{name}.pt'
    checksum = atomic_torch_save(path, state)
    atomic_write_json(run_dir / f'{name}.json',
                      dict(info, format_version=FORMAT_VERSION, sha256=checksum))
    return path


def load_checkpoint(run_dir: str | Path, name: str,
                    map_location: str | torch.device = 'cpu') -> tuple[dict[str, Any], dict[str, Any]]:
    """Read ``<name>.pt`` and its sidecar; verify the checksum and the format version.

    Raises:
        CheckpointError: a file is missing, the checksum differs (corrupted or replaced file),
            the format version is unknown, or the archive cannot be read with
            ``weights_only=True``.
    """
    run_dir = Path(run_dir)
    path, sidecar = run_dir / f'{name}.pt', run_dir / f'{name}.json'
    if not path.is_file() or not sidecar.is_file():
        raise CheckpointError(f'no checkpoint {name!r} in {run_dir} (expected {path.name} and '
                              f'{sidecar.name})')
    info = read_json(sidecar, CheckpointError)
    if info.get('sha256') != sha256_file(path):
        raise CheckpointError(f'{path} does not match the checksum in {sidecar.name}: the file '
                              'is corrupted or was replaced')
    version = info.get('format_version', 1)
    if version not in (1, FORMAT_VERSION):
        raise CheckpointError(f'{path} has checkpoint format version {version!r}; this version '
                              f'of addrl-graph reads versions 1 and {FORMAT_VERSION}')
    state = load_tensors(path, CheckpointError, map_location)
    return state, info


def migrate_state(model_state: dict[str, Any], version: int) -> dict[str, Any]:
    """A model state dict of checkpoint format ``version`` under today's parameter names."""
    if version == FORMAT_VERSION:
        return model_state
    renamed = {}
    for key, value in model_state.items():
        prefix = next((p for p in _V1_PREFIXES if key.startswith(p)), None)
        renamed[key if prefix is None else _V1_PREFIXES[prefix] + key[len(prefix):]] = value
    return renamed


def read_run_config(run_dir: str | Path) -> dict[str, Any]:
    path = Path(run_dir) / 'config.json'
    if not path.is_file():
        raise CheckpointError(f'{path} not found: is {run_dir} a training run folder?')
    return json.loads(path.read_text())


def build_run_model(config: dict[str, Any], graph: TrainGraph) -> nn.Module:
    """The (untrained) model a run's ``config.json`` describes, sized for ``graph``."""
    return build_model(config['train']['model'], graph, ModelConfig.from_dict(config['model']),
                       config['train'].get('baseline'))


def _check_fits(run_dir: Path, config: dict[str, Any], meta: dict[str, Any],
                expected: dict[str, Any], state: dict[str, Any]) -> None:
    names = [a['name'] for a in meta['attributes']]
    if config.get('attributes') != names:
        raise CheckpointError(f'{run_dir} was trained on a graph with attributes '
                              f'{config.get("attributes")}, the graph given now has {names}')
    for key, tensor in state.items():
        if key in expected and expected[key].shape != tensor.shape:
            raise CheckpointError(f'checkpoint parameter {key} has shape {tuple(tensor.shape)} '
                                  f'but the model built for this graph needs '
                                  f'{tuple(expected[key].shape)}')
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    if missing or unexpected:
        raise CheckpointError(f'checkpoint does not fit the model: missing {missing}, '
                              f'unexpected {unexpected}')
    if meta.get('graph_sha256') and config.get('graph_sha256') not in (None, meta['graph_sha256']):
        raise CheckpointError(f'{run_dir} was trained on another graph (same shapes, but '
                              'graph_sha256 differs from the graph given now)')


def load_run_model(run_dir: str | Path, checkpoint: str = 'best', data: HeteroData | None = None,
                   meta: dict[str, Any] | None = None, data_dir: str | Path | None = None,
                   device: str | torch.device = 'cpu',
                   graph: TrainGraph | None = None) -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild a run's model and load one of its checkpoints, in eval mode.

    Args:
        run_dir: the run folder.
        checkpoint: ``best`` or ``last``.
        data, meta: the graph, if already loaded; otherwise read from ``data_dir`` or the path
            recorded in ``config.json``.
        graph: the :class:`TrainGraph` of ``data``, if already built.

    Raises:
        CheckpointError: the checkpoint is missing or corrupted, or does not fit the graph
            (the message names the mismatching parameter and both shapes).
    """
    run_dir = Path(run_dir)
    config = read_run_config(run_dir)
    if data is None or meta is None:
        data, meta = load_graph(data_dir or config['data'])
    model = build_run_model(config, graph if graph is not None else TrainGraph.from_data(data, meta))
    state, info = load_checkpoint(run_dir, checkpoint, map_location=device)
    model_state = migrate_state(state['model'], info.get('format_version', 1))
    _check_fits(run_dir, config, meta, model.state_dict(), model_state)
    model.load_state_dict(model_state)
    return model.to(device).eval(), info
