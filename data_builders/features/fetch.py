"""Download item images from their URLs (Amazon dumps list ``imUrl`` / ``imageURLHighRes``).

Only the standard library: ``urllib.request`` in a thread pool. Each item gets the first of its
URLs that yields a decodable image, saved as ``<cache_dir>/<sha256(item id)>.<format>``: the
name never contains the id itself, so no id can write outside ``cache_dir``. Items whose file
is already there are skipped, so an interrupted download resumes where it stopped.

Safety and robustness:

- only ``http``/``https`` URLs, also after redirects (urllib follows at most 10);
- only public peers: unless ``allow_private``, every connection (redirects included) is checked
  once made and before a byte is sent, and one whose peer is not a global unicast address
  (:func:`is_public_address`: loopback, link-local, private, shared, reserved, multicast) is
  closed, so neither a URL, a redirect nor a DNS answer reaches the local network (through a
  proxy, the proxy is the peer that is checked);
- ``timeout`` seconds per socket operation and ``3 × timeout`` for a whole response;
- bodies over ``max_bytes`` are abandoned while streaming (or at once, from Content-Length);
- a body must open with Pillow, have at most :data:`data_builders.features.images.MAX_PIXELS`
  pixels
  (decompression bombs) and pass ``Image.verify()`` before it is renamed into place;
- 5xx, 429, timeouts and connection errors are retried ``retries`` times with exponential
  backoff; other HTTP errors move on to the item's next URL.

Outcomes are counted per item under one reason each: ``ok``, ``cached``, ``no_url``, and for
items with no working URL the reason of the last URL tried: ``http_<code>``, ``timeout``,
``connection_error``, ``too_large``, ``not_image``, ``too_many_pixels``, ``bad_scheme``,
``too_many_redirects``, ``private_address``.
"""
from __future__ import annotations

import hashlib
import http.client
import io
import ipaddress
import logging
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

from addrl_graph.io import atomic_write_bytes
from data_builders.errors import DataBuildError
from data_builders.features.images import MAX_PIXELS

log = logging.getLogger(__name__)

ALLOWED_SCHEMES = ('http', 'https')
FORMAT_SUFFIX = {'JPEG': '.jpg', 'PNG': '.png', 'WEBP': '.webp', 'GIF': '.gif', 'BMP': '.bmp',
                 'TIFF': '.tif'}
USER_AGENT = 'addrl-graph image fetcher (+https://pypi.org/project/addrl-graph/)'
CHUNK = 1 << 16


class _Failure(Exception):
    """One URL failed; ``reason`` is the Counter key, ``retry`` whether to try it again."""

    def __init__(self, reason: str, retry: bool = False) -> None:
        super().__init__(reason)
        self.reason, self.retry = reason, retry


class _HttpOnlyRedirects(urllib.request.HTTPRedirectHandler):
    """Follows redirects only to http/https (urllib itself would also allow ftp)."""

    def http_error_302(self, req, fp, code, msg, headers):  # noqa: D102
        target = headers.get('location') or headers.get('uri') or ''
        scheme = urllib.parse.urlsplit(urllib.parse.urljoin(req.full_url, target)).scheme
        if scheme.lower() not in ALLOWED_SCHEMES:
            fp.close()
            raise _Failure('bad_scheme')
        return super().http_error_302(req, fp, code, msg, headers)

    http_error_301 = http_error_303 = http_error_307 = http_error_308 = http_error_302


def is_public_address(address: str) -> bool:
    """Whether ``address``, a literal IPv4 or IPv6 address, is a global unicast one: not
    loopback, link-local, private, shared (``100.64.0.0/10``), reserved, multicast or
    unspecified. An IPv4-mapped IPv6 address (``::ffff:127.0.0.1``) is judged as its IPv4
    address, and a zone (``fe80::1%eth0``) is ignored."""
    ip = ipaddress.ip_address(address.split('%', 1)[0])
    if ip.version == 6 and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


class _PublicConnection(http.client.HTTPConnection):
    """An HTTP connection that closes at once when its peer is not a public address."""

    def connect(self) -> None:  # noqa: D102
        super().connect()
        if not is_public_address(self.sock.getpeername()[0]):
            self.sock.close()
            raise _Failure('private_address')


class _PublicHTTPSConnection(http.client.HTTPSConnection, _PublicConnection):
    """HTTPS over :class:`_PublicConnection`: the peer is checked before the TLS handshake
    (``HTTPSConnection.connect`` wraps the socket that ``_PublicConnection.connect`` made)."""


class _PublicHandler:
    """Mixin of urllib's HTTP and HTTPS handlers: open the checked connection classes."""
    _CHECKED = {http.client.HTTPConnection: _PublicConnection,
                http.client.HTTPSConnection: _PublicHTTPSConnection}

    def do_open(self, http_class, req, **kwargs):  # noqa: D102
        return super().do_open(self._CHECKED[http_class], req, **kwargs)


class _PublicHTTPHandler(_PublicHandler, urllib.request.HTTPHandler):
    pass


class _PublicHTTPSHandler(_PublicHandler, urllib.request.HTTPSHandler):
    pass


#: The URL opener by ``allow_private``.
_OPENERS = {False: urllib.request.build_opener(_HttpOnlyRedirects, _PublicHTTPHandler,
                                               _PublicHTTPSHandler),
            True: urllib.request.build_opener(_HttpOnlyRedirects)}


def image_file_stem(item_id: str) -> str:
    """The file name (without suffix) of an item's image: sha256 of its id."""
    return hashlib.sha256(item_id.encode('utf-8')).hexdigest()


def cached_image(cache_dir: Path, item_id: str) -> Path | None:
    """The already-downloaded image of ``item_id``, if any."""
    stem = image_file_stem(item_id)
    for suffix in dict.fromkeys(FORMAT_SUFFIX.values()):
        path = Path(cache_dir) / f'{stem}{suffix}'
        if path.is_file():
            return path
    return None


def _download(url: str, timeout: float, max_bytes: int, allow_private: bool) -> bytes:
    if urllib.parse.urlsplit(url).scheme.lower() not in ALLOWED_SCHEMES:
        raise _Failure('bad_scheme')
    request = urllib.request.Request(url, headers={'User-Agent': USER_AGENT})
    deadline = time.monotonic() + 3 * timeout
    try:
        with _OPENERS[allow_private].open(request, timeout=timeout) as response:
            length = response.headers.get('Content-Length')
            if length is not None and length.isdigit() and int(length) > max_bytes:
                raise _Failure('too_large')
            body = bytearray()
            while block := response.read(CHUNK):
                body += block
                if len(body) > max_bytes:
                    raise _Failure('too_large')
                if time.monotonic() > deadline:
                    raise _Failure('timeout', retry=True)
            return bytes(body)
    except urllib.error.HTTPError as exc:
        exc.close()
        if 300 <= exc.code < 400:  # a redirect loop or more than 10 redirects
            raise _Failure('too_many_redirects') from None
        raise _Failure(f'http_{exc.code}', retry=exc.code >= 500 or exc.code == 429) from None
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, _Failure):
            raise exc.reason from None
        if isinstance(exc.reason, (socket.timeout, TimeoutError)):
            raise _Failure('timeout', retry=True) from None
        raise _Failure('connection_error', retry=True) from None
    except (socket.timeout, TimeoutError):
        raise _Failure('timeout', retry=True) from None
    except (OSError, http.client.HTTPException):  # reset connections, malformed responses
        raise _Failure('connection_error', retry=True) from None


def _check_image(payload: bytes) -> str:
    """The file suffix for ``payload``; raises ``_Failure`` unless it is a sane image."""
    from PIL import Image

    try:
        with Image.open(io.BytesIO(payload)) as image:
            if image.width * image.height > MAX_PIXELS:
                raise _Failure('too_many_pixels')
            fmt = image.format
            image.verify()
    except Image.DecompressionBombError:
        raise _Failure('too_many_pixels') from None
    except _Failure:
        raise
    except Exception:  # Pillow raises many types for garbage input
        raise _Failure('not_image') from None
    return FORMAT_SUFFIX.get(fmt or '', '.img')


def _fetch_one(item_id: str, urls: list[str], cache_dir: Path, timeout: float, retries: int,
               max_bytes: int, backoff: float, allow_private: bool) -> tuple[str, Path | None]:
    existing = cached_image(cache_dir, item_id)
    if existing is not None:
        return 'cached', existing
    if not urls:
        return 'no_url', None
    reason = 'no_url'
    for url in urls:
        for attempt in range(retries + 1):
            try:
                payload = _download(url, timeout, max_bytes, allow_private)
                suffix = _check_image(payload)
            except _Failure as failure:
                reason = failure.reason
                if failure.retry and attempt < retries:
                    time.sleep(backoff * 2 ** attempt)
                    continue
                log.debug('%s: %s failed (%s)', item_id, url, reason)
                break
            path = Path(cache_dir) / f'{image_file_stem(item_id)}{suffix}'
            atomic_write_bytes(path, payload)
            return 'ok', path
    return reason, None


def fetch_images(
    urls: dict[str, list[str]],
    cache_dir: Path,
    workers: int = 8,
    timeout: float = 10.0,
    retries: int = 2,
    max_bytes: int = 10 * 2**20,
    progress: bool = True,
    backoff: float = 0.5,
    allow_private: bool = False,
) -> tuple[dict[str, Path], Counter]:
    """Download one image per item.

    Args:
        urls: item id → candidate URLs, best first.
        cache_dir: folder of downloaded images (created if needed).
        workers: parallel downloads.
        timeout: seconds per socket operation (a whole response gets three times that).
        retries: extra tries of a URL after a 5xx / 429 / timeout / connection error.
        max_bytes: largest body accepted.
        progress: show a tqdm bar.
        backoff: seconds before the first retry; doubled before each next one.
        allow_private: also fetch from peers that are not public addresses (see the module
            docstring); refused items count as ``private_address`` (with a warning).

    Returns:
        item id → image path for the items that have one (``ok`` or ``cached``), and the
        count of items per outcome (see the module docstring).
    """
    if workers < 1:
        raise DataBuildError(f'image fetch workers must be at least 1 (got {workers})')
    if timeout <= 0:
        raise DataBuildError(f'image fetch timeout must be positive (got {timeout})')
    if retries < 0:
        raise DataBuildError(f'image fetch retries must be at least 0 (got {retries})')
    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    from tqdm.auto import tqdm

    paths: dict[str, Path] = {}
    outcomes: Counter = Counter()
    with ThreadPoolExecutor(max_workers=workers) as pool, \
            tqdm(total=len(urls), desc='fetch images', unit='item', disable=not progress) as bar:
        futures = {pool.submit(_fetch_one, item_id, list(item_urls or []), cache_dir, timeout,
                               retries, max_bytes, backoff, allow_private): item_id
                   for item_id, item_urls in urls.items()}
        for future in as_completed(futures):
            outcome, path = future.result()
            outcomes[outcome] += 1
            if path is not None:
                paths[futures[future]] = path
            bar.update(1)
    log.info('fetched images for %d of %d items: %s', len(paths), len(urls), dict(outcomes))
    if outcomes['private_address']:
        log.warning('%d items got no image: their URLs lead to loopback, link-local, private or '
                    'reserved addresses (--allow-private-urls fetches them)',
                    outcomes['private_address'])
    return paths, outcomes
