"""Open Amazon dump files and stream their lines.

Dumps come as ``.json``, ``.jsonl`` or either of them gzipped. Compression is detected from the
file's first bytes (the gzip magic ``1f 8b``), not from its name, so a gzipped file without the
``.gz`` suffix reads fine and a ``.gz`` file that is not gzip fails with a clear message.

Problems with the *file* (missing, empty, not gzip, truncated) raise one
:class:`~data_builders.errors.DataBuildError` that names the file and what to do. Problems with a
single *line* are left to the caller: :func:`open_raw_lines` hands out the raw bytes so that the
readers can count a line that is not UTF-8 and go on.
"""
from __future__ import annotations

import gzip
import logging
import os
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from data_builders.errors import DataBuildError

logger = logging.getLogger(__name__)

GZIP_MAGIC = b'\x1f\x8b'
# Other containers people download by mistake: named in the error instead of a parse failure.
_OTHER_MAGIC = {b'PK\x03\x04': 'zip', b'BZh': 'bzip2', b'\xfd7zXZ\x00': 'xz',
                b'\x28\xb5\x2f\xfd': 'zstd'}


def check_file(path: str | os.PathLike) -> bytes:
    """Fail early on a path that cannot be a dump; return the file's first bytes.

    Raises:
        DataBuildError: missing, a directory, empty, another archive format, or a ``.gz``
            whose content is not gzip.
    """
    path = Path(path)
    if not path.exists():
        raise DataBuildError(f'{path}: no such file; check the path (got {str(path)!r})')
    if path.is_dir():
        raise DataBuildError(f'{path}: is a directory; pass the dump file inside it')
    with path.open('rb') as fh:
        head = fh.read(8)
    if not head:
        raise DataBuildError(f'{path}: file is empty; download it again or point to the '
                             'right file')
    for magic, name in _OTHER_MAGIC.items():
        if head.startswith(magic):
            raise DataBuildError(f'{path}: is a {name} archive, not json or gzip; extract it '
                                 'first')
    if path.suffix == '.gz' and not head.startswith(GZIP_MAGIC):
        raise DataBuildError(f'{path}: name ends in .gz but the content is not gzip (starts '
                             f'with {head[:4]!r}); decompress it properly or drop the .gz '
                             'suffix if it is plain text')
    return head


def _open_binary(path: Path) -> BinaryIO:
    head = check_file(path)
    if head.startswith(GZIP_MAGIC):
        return gzip.open(path, 'rb')   # type: ignore[return-value]
    return path.open('rb')


def open_raw_lines(path: str | os.PathLike) -> Iterator[tuple[int, bytes]]:
    """Yield ``(line_number, raw_bytes)`` for every non-blank line of a dump.

    Line numbers are 1-based and count blank lines too, so they match what an editor shows
    (in the decompressed text for gzip files). The bytes are stripped of surrounding ASCII
    whitespace (including ``\\r``).

    Raises:
        DataBuildError: the file is missing, a directory, empty (or only blank lines), a
            ``.gz`` that is not gzip, another archive format, or a gzip stream that is
            truncated or corrupt (the message names the last line read).
    """
    path = Path(path)
    lineno = 0
    seen = False
    with _open_binary(path) as fh:
        try:
            for lineno, raw in enumerate(fh, start=1):
                raw = raw.strip()
                if raw:
                    seen = True
                    yield lineno, raw
        except (EOFError, OSError, zlib.error) as err:
            raise DataBuildError(
                f'{path}: gzip stream is truncated or corrupt after line {lineno} ({err}); '
                'download the file again') from None
    if not seen:
        raise DataBuildError(f'{path}: holds no data lines ({lineno} blank); download it '
                             'again or point to the right file')


def open_lines(path: str | os.PathLike) -> Iterator[tuple[int, str]]:
    """Yield ``(line_number, text)`` for every non-blank line, decoded as strict UTF-8.

    For callers that want plain text; the Amazon readers use :func:`open_raw_lines` so they can
    skip and count undecodable lines instead.

    Raises:
        DataBuildError: as :func:`open_raw_lines`, or ``path:line`` of the first line that is
            not valid UTF-8.
    """
    for lineno, raw in open_raw_lines(path):
        try:
            text = raw.decode('utf-8')
        except UnicodeDecodeError as err:
            raise DataBuildError(f'{path}:{lineno}: line is not valid UTF-8 ({err.reason} at '
                                 f'byte {err.start}); re-encode the file as UTF-8') from None
        yield lineno, text.lstrip('\ufeff')
