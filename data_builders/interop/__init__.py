"""Import and export of the benchmark formats of MMRec and RecBole, on the exact same split.

``python -m data_builders import-mmrec DIR --out OUT`` (:mod:`~data_builders.interop.mmrec`)
and ``import-recbole DIR --out OUT`` (:mod:`~data_builders.interop.recbole`) turn a folder of
the library's files into a graph folder; ``export --graph DIR --format {mmrec,recbole} --out
OUT`` writes a graph's files for those libraries to load as they are. Export then import gives
the same graph: edges, split, features and attribute values
(:mod:`~data_builders.interop.graph` keeps the indexing and attribute state for that).
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from data_builders.errors import DataBuildError
from data_builders.interop.options import ExportConfig, ImportConfig

__all__ = ['ExportConfig', 'ImportConfig', 'export_graph', 'import_folder']

logger = logging.getLogger(__name__)


def import_folder(fmt: str, config: ImportConfig) -> dict[str, Any]:
    """Import ``config.dir`` as ``fmt`` (``mmrec`` or ``recbole``); returns the graph's meta."""
    if fmt == 'mmrec':
        from data_builders.interop.mmrec import import_mmrec
        return import_mmrec(config)
    from data_builders.interop.recbole import import_recbole
    return import_recbole(config)


def export_graph(config: ExportConfig) -> list[Path]:
    """Write the files of ``config.format`` for the graph ``config.graph``; returns them.

    Raises:
        DataBuildError: a bad option, or ``out`` already holds an export (without
            ``overwrite``).
        GraphSchemaError: the graph folder does not load.
    """
    from addrl_graph.data.schema import load_graph
    from addrl_graph.locks import folder_lock
    from data_builders.folders import make_folder
    from data_builders.interop.graph import SIDECAR

    config.validate()
    data, meta = load_graph(config.graph)
    out = make_folder(config.out)
    with folder_lock(out, 'export folder'):
        if (out / SIDECAR).exists() and not config.overwrite:
            raise DataBuildError(f'--out: {out} already holds an export ({SIDECAR}); pass '
                                 '--overwrite to replace it or choose another --out')
        if config.format == 'mmrec':
            from data_builders.interop.mmrec import export_mmrec
            written = export_mmrec(data, meta, out, config.dataset_name())
        else:
            from data_builders.interop.recbole import export_recbole
            written = export_recbole(data, meta, out, config.dataset_name())
    logger.info('wrote %d files into %s', len(written), out)
    return written
