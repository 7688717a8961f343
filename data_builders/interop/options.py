"""Options of ``python -m data_builders import-mmrec / import-recbole / export``, and the
features both importers read through an id mapping."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from torch import Tensor

from data_builders.attributes import AttributeConfig
from data_builders.errors import DataBuildError
from data_builders.folders import check_out_folder

FORMATS = ('mmrec', 'recbole')
#: The feature files of an MMRec folder (and of our RecBole exports), rows named by
#: ``i_id_mapping.csv``.
TEXT_FILE, IMAGE_FILE, ITEM_MAP, USER_MAP = ('text_feat.npy', 'image_feat.npy',
                                             'i_id_mapping.csv', 'u_id_mapping.csv')


@dataclass
class ImportConfig:
    """Options of ``import-mmrec`` and ``import-recbole``.

    Args:
        dir: the folder of the library's files.
        out: output folder for ``graph.pt`` and ``meta.json``.
        meta: metadata dump whose price, brand and category become the attributes (matched
            by item id); without it the files' item fields are used (RecBole ``.item``, or the
            attribute file of our own MMRec export), else popularity alone.
        format: format of ``meta`` (``2014``, ``2018`` or ``2023``).
        split: for RecBole files without benchmark files (``<name>.train.inter`` ...), the
            protocol that draws the split (``paper``, ``mmrec``, ...); ``None`` refuses them.
        seed: seed of ``split``.
        overwrite: replace the graph already in ``out``.
        attributes: which attributes to derive from ``meta`` and how; ``price_levels`` is
            also the number of levels of a RecBole float field.
    """
    dir: Path
    out: Path
    meta: Path | None = None
    format: str | None = None
    split: str | None = None
    seed: int = 0
    overwrite: bool = False
    attributes: AttributeConfig = field(default_factory=AttributeConfig)

    def validate(self) -> None:
        """Check the paths before anything is read."""
        for flag, path in (('DIR', self.dir), ('--meta', self.meta)):
            if path is not None and not Path(path).exists():
                raise DataBuildError(f'{flag}: {path} does not exist')
        if not Path(self.dir).is_dir():
            raise DataBuildError(f'DIR: {self.dir} is not a folder')
        check_out_folder(self.out)
        self.attributes.validate()

    def to_dict(self) -> dict[str, Any]:
        return {k: str(v) if isinstance(v, Path) else v for k, v in asdict(self).items()
                if k != 'overwrite'}


@dataclass
class ExportConfig:
    """Options of ``export``.

    Args:
        graph: the graph folder (``graph.pt`` + ``meta.json``).
        format: ``mmrec`` or ``recbole``.
        out: the folder to write the files into (MMRec: ``data/<name>``; RecBole:
            ``dataset/<name>``).
        name: the dataset's name in the file names (default: the name of ``out``).
        overwrite: replace an export already in ``out``.
    """
    graph: Path
    format: str
    out: Path
    name: str | None = None
    overwrite: bool = False

    def dataset_name(self) -> str:
        return self.name or Path(self.out).resolve().name

    def validate(self) -> None:
        if self.format not in FORMATS:
            raise DataBuildError(f'--format must be one of {FORMATS} (got {self.format!r})')
        if any(ch in self.dataset_name() for ch in '/\\\t\n .') or not self.dataset_name():
            raise DataBuildError(f'--name must be a plain file name without dots or spaces '
                                 f'(got {self.dataset_name()!r})')
        check_out_folder(self.out)


def mapped_features(folder: Path, file: str, mapping: dict[str, int], items: list[str],
                    mapping_name: str, image: bool) -> tuple[Tensor, Tensor, dict[str, Any]]:
    """One modality of a folder: ``[I, d]`` features placed through ``mapping``, the mask
    ``[I]`` (zero rows, and for images mean-filled rows, are missing) and the encoder info;
    an absent file gives ``[I, 0]``."""
    from data_builders.features.precomputed import filled_rows, load_keyed_features
    from data_builders.interop.graph import no_features

    path = Path(folder) / file
    if not path.is_file():
        return no_features(len(items))
    x = load_keyed_features(path, mapping, items, mapping_name)
    filled = filled_rows(x) if image else ~x.bool().any(dim=1)
    return x, ~filled, {'name': f'precomputed:{file}', 'dim': x.size(1), 'checksum': None,
                        'ids': Path(mapping_name).name, 'filled_rows': int(filled.sum())}
