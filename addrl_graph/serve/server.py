"""Run the service with uvicorn: ``python -m addrl_graph serve --run RUN``.

Safe by default: it binds to ``127.0.0.1``; any other ``--host`` needs an API key
(``--api-key`` or the environment variable ``ADDRL_API_KEY``), which every data request then
sends as ``X-API-Key``. The run is loaded (and its checkpoints verified) before the socket
opens, so a refused run never serves. Torch runs one thread per request: requests run in
parallel in uvicorn's thread pool, and a single user's scores are too small a job for torch's
intra-op pool (whose per-op barrier stalls whenever a core is busy).
"""
from __future__ import annotations

import ipaddress
import logging
import os
from pathlib import Path

from addrl_graph.errors import ConfigError

API_KEY_ENV = 'ADDRL_API_KEY'
DEFAULT_HOST, DEFAULT_PORT = '127.0.0.1', 8000
MIN_KEY_LENGTH = 8
log = logging.getLogger(__name__)


def is_loopback(host: str) -> bool:
    """Whether ``host`` only reaches this machine (``localhost``, ``127.x``, ``::1``)."""
    if host.strip().lower() == 'localhost':
        return True
    try:
        return ipaddress.ip_address(host.strip('[]')).is_loopback
    except ValueError:
        return False


def resolve_api_key(host: str, api_key: str | None) -> str | None:
    """The key to require: ``api_key``, else ``$ADDRL_API_KEY``; required off loopback.

    Raises:
        ConfigError: no key for a host that is not loopback, or a key under 8 characters.
    """
    key = api_key if api_key is not None else os.environ.get(API_KEY_ENV) or None
    if key is None and not is_loopback(host):
        raise ConfigError(f'--host {host} is reachable from other machines: give --api-key '
                          f'(or set {API_KEY_ENV}); without one the service binds to loopback')
    if key is not None and len(key) < MIN_KEY_LENGTH:
        raise ConfigError(f'the API key must have at least {MIN_KEY_LENGTH} characters')
    return key


def build_app(run_dir: str | Path, checkpoint: str = 'best', data_dir: str | Path | None = None,
              device: str = 'cpu', api_key: str | None = None):
    """Load the run and return the FastAPI application over it."""
    try:
        from addrl_graph.serve.app import create_app
    except ImportError as e:
        raise ConfigError(f'serve needs FastAPI and uvicorn ({e.name} is missing): pip install '
                          '"addrl-graph[serve]"') from None
    from addrl_graph.serve.state import ServedRun

    return create_app(ServedRun(run_dir, checkpoint, data_dir, device), api_key)


def serve(run_dir: str | Path, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT,
          api_key: str | None = None, checkpoint: str = 'best',
          data_dir: str | Path | None = None, device: str = 'cpu') -> None:
    """Serve ``run_dir`` on ``host:port`` until interrupted."""
    import torch

    key = resolve_api_key(host, api_key)
    torch.set_num_threads(1)
    app = build_app(run_dir, checkpoint, data_dir, device, key)
    import uvicorn

    log.info('serving %s on http://%s:%d/ (API key %s)', run_dir, host, port,
             'required' if key else 'not required')
    uvicorn.run(app, host=host, port=port, log_level='warning')
