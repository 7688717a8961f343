"""Load test of ``python -m addrl_graph serve`` on loopback: a served AD-DRL run of the
synthetic ``sports`` preset (21,400 users, 36,224 items), 1, 4 and 16 concurrent clients for a
fixed time each, recommendations (k = 20) with and without ``control``.

    python bench/bench_serve.py                       # prepares the run once under --work
    python bench/bench_serve.py --seconds 10 --repeats 3 --clients 1,4,16

The run is trained briefly (``--epochs``, default 1, ID embeddings, no text or image encoders
at build time): serving costs the same for any training length, the tables have the same
shapes. Each client is an ``httpx.AsyncClient`` in this process, sending one request after the
other to random users (seeded) for ``--seconds``; the server is a separate process. Prints one
JSON object: for each client count and mode the median over ``--repeats`` repetitions of
requests per second and of the p50 / p95 / p99 latency (ms), and the errors (non-200 answers
or failed requests) summed. The machine's core count and load average are printed too: on a
machine shared with other work the figures are upper bounds of what it costs alone.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
CONTROL = 'price:2,brand:0'


def prepare(work: Path, epochs: int) -> tuple[Path, float]:
    """Generate, build and train the sports preset under ``work`` unless done already;
    return the run folder and the training seconds (0 when reused)."""
    from data_builders.build import BuildConfig, build

    raw, graph, run = work / 'raw-sports', work / 'graph-sports', work / f'run-e{epochs}'
    if not (raw / 'ground_truth.json').is_file():
        from data_builders.synthetic import generate
        generate(raw, preset='sports', seed=0, images=False, progress=True)
    if not (graph / 'meta.json').is_file():
        build(BuildConfig(format='2014', reviews=raw / 'reviews.json.gz',
                          meta=raw / 'meta.json.gz', out=graph, text_encoder='none',
                          image_encoder='none', progress=True))
    seconds = 0.0
    if not (run / 'best.json').is_file():
        from addrl_graph.nn.config import ModelConfig
        from addrl_graph.training.train import TrainConfig, train
        start = time.perf_counter()
        # one negative, large batches: a brief run, about 20 steps an epoch
        train(graph, run, TrainConfig(epochs=epochs, patience=epochs, num_neg=1,
                                      batch_size=8192),
              ModelConfig(id_encoder='embedding'), progress=True)
        seconds = time.perf_counter() - start
    return run, seconds


def free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def start_server(run: Path, port: int) -> subprocess.Popen:
    server = subprocess.Popen([sys.executable, '-m', 'addrl_graph', '--quiet', 'serve',
                               '--run', str(run), '--port', str(port)], cwd=ROOT)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f'the server exited with {server.returncode}')
        try:
            if httpx.get(f'http://127.0.0.1:{port}/health', timeout=2).status_code == 200:
                return server
        except httpx.HTTPError:
            time.sleep(0.5)
    server.kill()
    raise SystemExit('the server did not answer /health within 300 s')


async def _client(http: httpx.AsyncClient, users: list[str], params: dict, stop: float,
                  seed: int, latencies: list[float], errors: list[int]) -> None:
    rng = random.Random(seed)
    while time.perf_counter() < stop:
        user = rng.choice(users)
        start = time.perf_counter()
        try:
            ok = (await http.get(f'/users/{user}/recommendations', params=params)).status_code == 200
        except httpx.HTTPError:
            ok = False
        latencies.append(time.perf_counter() - start)
        errors[0] += not ok


async def load(base: str, users: list[str], clients: int, seconds: float, control: str | None,
               k: int, seed: int) -> dict[str, float]:
    """``clients`` sequential clients for ``seconds``: requests/s, latency percentiles (ms)."""
    params = {'k': k, **({'control': control} if control else {})}
    latencies: list[float] = []
    errors = [0]
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30) as http:
        await http.get(f'/users/{users[0]}/recommendations', params=params)   # warm
        start = time.perf_counter()
        stop = start + seconds
        await asyncio.gather(*[_client(http, users, params, stop, seed * 100 + c, latencies,
                                       errors) for c in range(clients)])
        elapsed = time.perf_counter() - start
    ms = np.asarray(latencies) * 1000
    return {'requests_per_s': len(ms) / elapsed, 'p50_ms': float(np.percentile(ms, 50)),
            'p95_ms': float(np.percentile(ms, 95)), 'p99_ms': float(np.percentile(ms, 99)),
            'requests': len(ms), 'errors': errors[0]}


def summarize(reps: list[dict[str, float]]) -> dict[str, float]:
    out = {key: round(statistics.median(r[key] for r in reps), 2)
           for key in ('requests_per_s', 'p50_ms', 'p95_ms', 'p99_ms')}
    out.update(requests=sum(r['requests'] for r in reps), errors=sum(r['errors'] for r in reps),
               p99_ms_each=[round(r['p99_ms'], 2) for r in reps])
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--work', type=Path, default=Path('data/bench-serve'),
                   help='where the sports graph and run are kept (reused)')
    p.add_argument('--epochs', type=int, default=1)
    p.add_argument('--clients', default='1,4,16')
    p.add_argument('--seconds', type=float, default=10.0, help='per level, mode and repeat')
    p.add_argument('--repeats', type=int, default=3)
    p.add_argument('-k', type=int, default=20)
    args = p.parse_args()
    run, train_seconds = prepare(args.work, args.epochs)
    meta = json.loads((Path(json.loads((run / 'config.json').read_text())['data'])
                       / 'meta.json').read_text())
    users = meta['users']
    port = free_port()
    server = start_server(run, port)
    levels = [int(c) for c in args.clients.split(',')]
    results: dict[str, list] = {f'{c}:{m}': [] for c in levels for m in ('plain', 'control')}
    try:
        for rep in range(args.repeats):          # repetitions spread over the whole bench
            for c in levels:
                for mode, control in (('plain', None), ('control', CONTROL)):
                    results[f'{c}:{mode}'].append(asyncio.run(load(
                        f'http://127.0.0.1:{port}', users, c, args.seconds, control, args.k,
                        rep)))
    finally:
        server.terminate()
        server.wait(30)
    report = {'run': str(run), 'epochs': args.epochs, 'train_seconds': round(train_seconds, 1),
              'users': len(users), 'items': len(meta['items']), 'k': args.k,
              'control': CONTROL, 'seconds_per_level': args.seconds, 'repeats': args.repeats,
              'cpu_count': os.cpu_count(), 'load_average_after': os.getloadavg(),
              'results': {key: summarize(reps) for key, reps in results.items()}}
    print(json.dumps(report, indent=2))
    return 0 if all(v['errors'] == 0 for v in report['results'].values()) else 1


if __name__ == '__main__':
    sys.exit(main())
