"""Reopen a training run: its config, its graph and the model of one of its checkpoints."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch_geometric.data import HeteroData

from addrl_graph.training.checkpoint import load_checkpoint
from addrl_graph.nn.config import ModelConfig
from addrl_graph.data.schema import load_graph
from addrl_graph.errors import CheckpointError
from addrl_graph.training.registry import build_model


def read_run_config(run_dir: str | Path) -> dict[str, Any]:
    path = Path(run_dir) / 'config.json'
    if not path.is_file():
        raise CheckpointError(f'{path} not found: is {run_dir} a training run folder?')
    return json.loads(path.read_text())


def load_run_model(run_dir: str | Path, checkpoint: str = 'best', data: HeteroData | None = None,
                   meta: dict[str, Any] | None = None, data_dir: str | Path | None = None,
                   device: str | torch.device = 'cpu') -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild a run's model and load one of its checkpoints, in eval mode.

    Args:
        run_dir: the run folder.
        checkpoint: ``best`` or ``last``.
        data, meta: the graph, if already loaded; otherwise read from ``data_dir`` or the path
            recorded in ``config.json``.

    Raises:
        CheckpointError: the checkpoint is missing or corrupted, or does not fit the graph
            (the message names the mismatching parameter and both shapes).
    """
    config = read_run_config(run_dir)
    if data is None or meta is None:
        data, meta = load_graph(data_dir or config['data'])
    names = [a['name'] for a in meta['attributes']]
    if config.get('attributes') != names:
        raise CheckpointError(f'{run_dir} was trained on a graph with attributes '
                              f'{config.get("attributes")}, the graph given now has {names}')
    model, _ = build_model(config['train']['model'], data, meta,
                           ModelConfig.from_dict(config['model']),
                           config['train'].get('baseline'))
    state, info = load_checkpoint(run_dir, checkpoint, map_location=device)
    expected = model.state_dict()
    for key, tensor in state['model'].items():
        if key in expected and expected[key].shape != tensor.shape:
            raise CheckpointError(f'checkpoint parameter {key} has shape {tuple(tensor.shape)} '
                                  f'but the model built for this graph needs '
                                  f'{tuple(expected[key].shape)}')
    missing = sorted(set(expected) - set(state['model']))
    unexpected = sorted(set(state['model']) - set(expected))
    if missing or unexpected:
        raise CheckpointError(f'checkpoint does not fit the model: missing {missing}, '
                              f'unexpected {unexpected}')
    if meta.get('graph_sha256') and config.get('graph_sha256') not in (None, meta['graph_sha256']):
        raise CheckpointError(f'{run_dir} was trained on another graph (same shapes, but '
                              'graph_sha256 differs from the graph given now)')
    model.load_state_dict(state['model'])
    return model.to(device).eval(), info
