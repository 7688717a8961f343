"""A run's checkpoint as a pretrained folder (``python -m addrl_graph export-model``): the
model of :func:`~addrl_graph.training.runs.load_run_model` saved with
:meth:`~addrl_graph.nn.pretrained.Pretrained.save_pretrained`, with the options its run's
``config.json`` records, so it can be used without the run folder."""
from __future__ import annotations

from pathlib import Path

from addrl_graph.data.schema import load_graph
from addrl_graph.data.train_graph import TrainGraph
from addrl_graph.nn.pretrained import Pretrained
from addrl_graph.training.runs import load_run_model, read_run_config


def export_run(run_dir: str | Path, out_dir: str | Path, checkpoint: str = 'best',
               data_dir: str | Path | None = None) -> Path:
    """Write checkpoint ``checkpoint`` of ``run_dir`` (on its graph, or ``data_dir``'s) as a
    pretrained folder ``out_dir``; returns ``out_dir``.

    Raises:
        CheckpointError: the run, its checkpoint or its graph does not load
            (:func:`~addrl_graph.training.runs.load_run_model`).
    """
    config = read_run_config(run_dir)
    data, meta = load_graph(data_dir or config['data'])
    graph = TrainGraph.from_data(data, meta)
    model, _ = load_run_model(run_dir, checkpoint, data, meta, graph=graph)
    pretrained = Pretrained.from_model(model, graph, meta, config['train'].get('baseline'))
    return pretrained.save_pretrained(out_dir)
