"""A training run's folder: save its checkpoints, reopen its config, rebuild its model.

``<run>/config.json`` records what rebuilds the model (:func:`~addrl_graph.training.config.
run_config`). A checkpoint ``<name>`` (``best``, ``last``) is a manifest and a weights file:
``<name>.json`` holds the epoch, the run's config (so its graph sha256), the format version, and
the name and sha256 of ``<name>.<sha12>.pt``, which holds tensors and plain values only
(``torch.load(weights_only=True)``). The weights file is written first under a name of its own,
the manifest last (both atomically), and the weights file of the previous manifest deleted only
then: a crash at any byte leaves the old or the new checkpoint whole, never a mixed pair. Runs
written before manifests named their file keep their ``<name>.pt``.

A run reads only its own checkpoints: the manifest's config must equal the run's ``config.json``
but for the limits a resumption may extend (:func:`config_differences`), and the graph handed
in must be the run's graph.

Format versions: 1 (before the ID encoders held the ego embeddings and the item views became a
module of their own), 2 (now). A version-1 AD-DRL state dict is renamed on load
(:func:`migrate_state`); a version this code does not know is refused, naming it.
"""
from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch_geometric.data import HeteroData

from addrl_graph.data.schema import load_graph
from addrl_graph.data.train_graph import TrainGraph
from addrl_graph.errors import CheckpointError
from addrl_graph.io import (atomic_write_bytes, atomic_write_json, load_tensors, read_json,
                            sha256_file, torch_payload)
from addrl_graph.nn.config import ModelConfig
from addrl_graph.nn.registry import build_model
from addrl_graph.training.config import TrainConfig, check_run_config

FORMAT_VERSION = 2
#: Version-1 → version-2 prefixes of AD-DRL's parameter names.
_V1_PREFIXES = {'user_embedding.': 'id_encoder.user_embedding.',
                'item_embedding.': 'id_encoder.item_embedding.', 'encoder.': 'id_encoder.',
                'text_proj.': 'views.text_proj.', 'image_proj.': 'views.image_proj.',
                'attention.': 'views.attention.'}


def save_checkpoint(run_dir: str | Path, name: str, state: dict[str, Any],
                    info: dict[str, Any]) -> Path:
    """Write ``state`` (tensors / plain values) as ``<name>.<sha12>.pt``, then the manifest
    ``<name>.json`` (``info``, the format version, the file's name and sha256), then delete the
    weights files no manifest names. Returns the weights file's path."""
    run_dir = Path(run_dir)
    payload = torch_payload(state)
    checksum = hashlib.sha256(payload).hexdigest()
    path = run_dir / f'{name}.{checksum[:12]}.pt'
    atomic_write_bytes(path, payload)
    atomic_write_json(run_dir / f'{name}.json', dict(info, format_version=FORMAT_VERSION,
                                                     file=path.name, sha256=checksum))
    for stale in [*run_dir.glob(f'{name}.*.pt'), run_dir / f'{name}.pt']:
        if stale != path:
            stale.unlink(missing_ok=True)
    return path


def checkpoint_file(run_dir: str | Path, name: str) -> Path:
    """The weights file the manifest ``<run_dir>/<name>.json`` names."""
    return _manifest(Path(run_dir), name)[1]


def _manifest(run_dir: Path, name: str) -> tuple[dict[str, Any], Path]:
    """Checkpoint ``name``'s manifest and the weights file it names.

    Raises:
        CheckpointError: the manifest or its file is missing, or the manifest is no JSON object.
    """
    manifest = run_dir / f'{name}.json'
    if not manifest.is_file():
        raise CheckpointError(f'no checkpoint {name!r} in {run_dir} (expected {manifest.name})')
    info = read_json(manifest, CheckpointError)
    if not isinstance(info, dict):
        raise CheckpointError(f'{manifest} is not a checkpoint manifest (a JSON object)')
    file_name = str(info.get('file', f'{name}.pt'))
    path = run_dir / Path(file_name).name  # a manifest names a file of its own folder only
    if not path.is_file():
        raise CheckpointError(f'{manifest} names {file_name}, which is missing from {run_dir}')
    return info, path


def verify_checkpoint(run_dir: str | Path, name: str) -> tuple[dict[str, Any], Path]:
    """Checkpoint ``name``'s manifest and weights file, after checking the file's sha256.

    Raises:
        CheckpointError: a file is missing, or the checksum differs (corrupted or replaced).
    """
    info, path = _manifest(Path(run_dir), name)
    if info.get('sha256') != sha256_file(path):
        raise CheckpointError(f'{path} does not match the checksum in {name}.json: the file '
                              'is corrupted or was replaced')
    return info, path


def load_checkpoint(run_dir: str | Path, name: str,
                    map_location: str | torch.device = 'cpu') -> tuple[dict[str, Any], dict[str, Any]]:
    """Read checkpoint ``name``'s manifest and weights; verify the checksum and the version.

    Raises:
        CheckpointError: a file is missing, the checksum differs (corrupted or replaced file),
            the format version is unknown, or the archive cannot be read with
            ``weights_only=True``.
    """
    info, path = verify_checkpoint(run_dir, name)
    version = info.get('format_version', 1)
    if version not in (1, FORMAT_VERSION):
        raise CheckpointError(f'{path} has checkpoint format version {version!r}; this version '
                              f'of addrl-graph reads versions 1 and {FORMAT_VERSION}')
    return load_tensors(path, CheckpointError, map_location), info


def migrate_state(model_state: dict[str, Any], version: int) -> dict[str, Any]:
    """A model state dict of checkpoint format ``version`` under today's parameter names."""
    if version == FORMAT_VERSION:
        return model_state
    renamed = {}
    for key, value in model_state.items():
        prefix = next((p for p in _V1_PREFIXES if key.startswith(p)), None)
        renamed[key if prefix is None else _V1_PREFIXES[prefix] + key[len(prefix):]] = value
    return renamed


#: What a checkpoint must share with the run that reads or resumes it: the graph, what builds the
#: model and how it was trained, all but the limits a resumption may extend (and where it logs).
SAME_RUN_FIELDS = ('graph_sha256', 'attributes', 'model', 'train')
FREE_ON_RESUME = ('train.epochs', 'train.patience', 'train.max_minutes', 'train.tensorboard')


def config_differences(saved: dict[str, Any], current: dict[str, Any],
                       fields: tuple[str, ...] = SAME_RUN_FIELDS,
                       free: tuple[str, ...] = FREE_ON_RESUME) -> list[str]:
    """``'<field>: checkpoint <a>, now <b>'`` for every dotted field under ``fields`` (and not
    under ``free``) whose value differs; a field a config predates takes today's default."""
    def under(key: str, prefixes: tuple[str, ...]) -> bool:
        return any(key == p or key.startswith(p + '.') for p in prefixes)

    old, new = _flatten(_with_defaults(saved)), _flatten(_with_defaults(current))
    keys = sorted(k for k in old.keys() | new.keys() if under(k, fields) and not under(k, free))
    return [f'{k}: checkpoint {old.get(k)!r}, now {new.get(k)!r}' for k in keys
            if old.get(k) != new.get(k)]


def _with_defaults(config: Any) -> dict[str, Any]:
    """``config`` with today's defaults under its ``train`` and ``model`` sections (a section
    that is no mapping, as after a hand edit, stays as it is and so differs)."""
    config = config if isinstance(config, dict) else {'config': config}
    defaults = {'train': dataclasses.asdict(TrainConfig()), 'model': ModelConfig().to_dict()}
    return {**config, **{key: {**values, **config[key]} for key, values in defaults.items()
                         if isinstance(config.get(key, {}), dict) and key in config}}


def _flatten(values: dict[str, Any], prefix: str = '') -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f'{prefix}{key}.'))
        else:
            flat[f'{prefix}{key}'] = value
    return flat


def read_run_config(run_dir: str | Path) -> dict[str, Any]:
    path = Path(run_dir) / 'config.json'
    if not path.is_file():
        raise CheckpointError(f'{path} not found: is {run_dir} a training run folder?')
    return check_run_config(read_json(path, CheckpointError), path)


def build_run_model(config: dict[str, Any], graph: TrainGraph) -> nn.Module:
    """The (untrained) model a run's ``config.json`` describes, sized for ``graph``."""
    return build_model(config['train']['model'], graph, ModelConfig.from_dict(config['model']),
                       config['train'].get('baseline'))


def _check_own(run_dir: Path, name: str, info: dict[str, Any], config: dict[str, Any]) -> None:
    """Refuse a checkpoint another run (another graph, split or model) wrote."""
    if not isinstance(info.get('config'), dict):
        raise CheckpointError(f'{run_dir / name}.json records no run config, so it cannot be '
                              'checked against this run')
    differences = config_differences(info['config'], config)
    if differences:
        raise CheckpointError(f'checkpoint {name!r} in {run_dir} was written by another run '
                              f'than its config.json: {"; ".join(differences)}')


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
    _check_own(run_dir, checkpoint, info, config)
    model_state = migrate_state(state['model'], info.get('format_version', 1))
    _check_fits(run_dir, config, meta, model.state_dict(), model_state)
    model.load_state_dict(model_state)
    return model.to(device).eval(), info
