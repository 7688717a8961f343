"""Image downloads against a local HTTP server: every failure mode gets its own reason."""
import io
import struct
import threading
import time
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from PIL import Image

from data_builders.errors import DataBuildError
from data_builders.features.fetch import fetch_images, image_file_stem

TIMEOUT = 0.5


def png_bytes(colour='red', size=(8, 8)) -> bytes:
    buffer = io.BytesIO()
    Image.new('RGB', size, colour).save(buffer, format='PNG')
    return buffer.getvalue()


def bomb_png(side: int = 20000) -> bytes:
    """A valid 1-bit ``side × side`` PNG of zeros: ~50 MB of pixels compressed to a few KB."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack('>I', len(data)) + kind + data
                + struct.pack('>I', zlib.crc32(kind + data) & 0xFFFFFFFF))

    row = b'\x00' * (1 + side // 8)
    compressor = zlib.compressobj(9)
    body = b''.join(compressor.compress(row) for _ in range(side)) + compressor.flush()
    header = struct.pack('>IIBBBBB', side, side, 1, 0, 0, 0, 0)
    return (b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', header) + chunk(b'IDAT', body)
            + chunk(b'IEND', b''))


class Handler(BaseHTTPRequestHandler):
    flaky_hits = 0
    bomb = b''

    def log_message(self, *args):  # keep test output quiet
        pass

    def send(self, code: int, body: bytes = b'', content_type='image/png', length=True):
        self.send_response(code)
        self.send_header('Content-Type', content_type)
        if length:
            self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        path = self.path
        if path == '/ok.png':
            self.send(200, png_bytes('red'))
        elif path == '/blue.png':
            self.send(200, png_bytes('blue'))
        elif path == '/404':
            self.send(404, b'missing', 'text/plain')
        elif path == '/flaky':
            Handler.flaky_hits += 1
            if Handler.flaky_hits == 1:
                self.send(500, b'oops', 'text/plain')
            else:
                self.send(200, png_bytes('green'))
        elif path == '/always-500':
            self.send(503, b'down', 'text/plain')
        elif path == '/slow':
            time.sleep(TIMEOUT * 3)
            self.send(200, png_bytes())
        elif path == '/redirect':
            self.send_response(302)
            self.send_header('Location', '/blue.png')
            self.send_header('Content-Length', '0')
            self.end_headers()
        elif path == '/redirect-to-file':
            self.send_response(302)
            self.send_header('Location', 'file:///etc/passwd')
            self.send_header('Content-Length', '0')
            self.end_headers()
        elif path == '/loop':
            self.send_response(302)
            self.send_header('Location', '/loop')
            self.send_header('Content-Length', '0')
            self.end_headers()
        elif path == '/huge':  # announced size over the limit
            self.send(200, png_bytes() + b'\x00' * 300_000)
        elif path == '/huge-unannounced':  # no Content-Length: the limit applies while reading
            self.send_response(200)
            self.end_headers()
            for _ in range(20):
                self.wfile.write(b'\x00' * 65536)
        elif path == '/text':
            self.send(200, b'<html>not an image</html>', 'text/html')
        elif path == '/bomb.png':
            self.send(200, Handler.bomb)
        else:
            self.send(404, b'', 'text/plain')


class QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):  # clients that gave up: broken pipes
        pass


@pytest.fixture(scope='module')
def server():
    Handler.bomb = bomb_png()
    httpd = QuietServer(('127.0.0.1', 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f'http://127.0.0.1:{httpd.server_address[1]}'
    httpd.shutdown()
    httpd.server_close()


def fetch(urls, cache_dir, **kwargs):
    """``fetch_images`` with fast settings; the test server is on loopback, so private
    addresses are allowed (tests/data_builders/test_hostile_build.py checks the refusal)."""
    options = dict(workers=8, timeout=TIMEOUT, retries=1, max_bytes=200_000, progress=False,
                   backoff=0.01, allow_private=True)
    options.update(kwargs)
    return fetch_images(urls, cache_dir, **options)


def test_every_outcome_has_its_reason(server, tmp_path):
    urls = {
        'ok': [f'{server}/ok.png'],
        'second-url': [f'{server}/404', f'{server}/blue.png'],
        'flaky': [f'{server}/flaky'],
        'redirect': [f'{server}/redirect'],
        'missing': [f'{server}/404'],
        'down': [f'{server}/always-500'],
        'slow': [f'{server}/slow'],
        'huge': [f'{server}/huge'],
        'huge-stream': [f'{server}/huge-unannounced'],
        'text': [f'{server}/text'],
        'bomb': [f'{server}/bomb.png'],
        'ftp': ['ftp://127.0.0.1/x.png'],
        'file': ['file:///etc/passwd'],
        'redirect-to-file': [f'{server}/redirect-to-file'],
        'refused': ['http://127.0.0.1:9/x.png'],
        'loop': [f'{server}/loop'],
        'no-url': [],
    }
    start = time.monotonic()
    paths, outcomes = fetch(urls, tmp_path)
    assert time.monotonic() - start < 5
    assert set(paths) == {'ok', 'second-url', 'flaky', 'redirect'}
    assert outcomes == {'ok': 4, 'http_404': 1, 'http_503': 1, 'timeout': 1, 'too_large': 2,
                        'not_image': 1, 'too_many_pixels': 1, 'bad_scheme': 3,
                        'connection_error': 1, 'too_many_redirects': 1, 'no_url': 1}
    colours = {item: Image.open(path).convert('RGB').getpixel((0, 0))
               for item, path in paths.items()}
    assert colours == {'ok': (255, 0, 0), 'second-url': (0, 0, 255), 'flaky': (0, 128, 0),
                       'redirect': (0, 0, 255)}
    for item, path in paths.items():
        assert path.parent == tmp_path and path.name == image_file_stem(item) + '.png'
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in paths.values())


def test_cached_files_are_not_downloaded_again(server, tmp_path):
    urls = {'ok': [f'{server}/ok.png']}
    first, outcomes = fetch(urls, tmp_path)
    assert outcomes == {'ok': 1}
    first['ok'].write_bytes(png_bytes('yellow'))  # marker: a re-download would overwrite it
    again, outcomes = fetch({'ok': [f'{server}/404']}, tmp_path)
    assert outcomes == {'cached': 1} and again == first
    assert Image.open(again['ok']).convert('RGB').getpixel((0, 0)) == (255, 255, 0)


def test_item_ids_cannot_escape_the_folder(server, tmp_path):
    cache = tmp_path / 'cache'
    paths, outcomes = fetch({'../../evil': [f'{server}/ok.png'], '/etc/x': [f'{server}/ok.png']},
                            cache)
    assert outcomes == {'ok': 2}
    assert all(p.parent == cache for p in paths.values())
    assert sorted(p.name for p in tmp_path.iterdir()) == ['cache']


def test_bad_options(tmp_path):
    with pytest.raises(DataBuildError, match=r'workers.*\(got 0\)'):
        fetch_images({}, tmp_path, workers=0)
    with pytest.raises(DataBuildError, match=r'timeout.*\(got -1\)'):
        fetch_images({}, tmp_path, timeout=-1)
