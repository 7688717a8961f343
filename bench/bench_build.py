"""Benchmark: dumps → graph.pt on the synthetic ``sports`` preset; prints JSON.

Each repeat runs the build in a fresh subprocess (so its peak RSS is its own) with features
excluded (``--text-encoder none --image-encoder none``); medians over repeats are reported with
every stage. ``--text-sample N`` also times the ``minilm`` text encoder on N item documents and
reports items encoded per second.

    python bench/bench_build.py --preset sports --repeats 3 --text-sample 2000
"""
from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET_SECONDS, TARGET_RSS_GIB = 60.0, 3.0


def one_build(raw: Path, out: Path) -> dict:
    """Run in a child process: build without features, report stage seconds and peak RSS."""
    from data_builders.build import BuildConfig, build

    start = time.perf_counter()
    meta = build(BuildConfig(format='2014', reviews=raw / 'reviews.json.gz',
                             meta=raw / 'meta.json.gz', out=out, text_encoder='none',
                             image_encoder='none', progress=False))
    return {'seconds': time.perf_counter() - start, 'stages': meta['stage_seconds'],
            'peak_rss_gib': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
            'stats': {k: meta['stats'][k] for k in ('users', 'items', 'interactions')}}


def checks_overhead(raw: Path, graph_dir: Path, build_seconds: float) -> dict:
    """Seconds the input checks add: validated reading minus a bare parse of the same lines
    (``json.loads`` / ``ast.literal_eval``), plus schema validation and source checksums."""
    import ast

    from addrl_graph.data.schema import load_graph, validate_graph
    from addrl_graph.io import sha256_file
    from data_builders.readers import read_meta, read_reviews
    from data_builders.readers.files import open_lines

    def seconds(fn) -> float:
        start = time.perf_counter()
        fn()
        return time.perf_counter() - start

    reviews, meta = raw / 'reviews.json.gz', raw / 'meta.json.gz'
    validated = (seconds(lambda: sum(1 for _ in read_reviews(reviews, '2014')))
                 + seconds(lambda: sum(1 for _ in read_meta(meta, '2014'))))
    bare = (seconds(lambda: [json.loads(line) for _, line in open_lines(reviews)])
            + seconds(lambda: [ast.literal_eval(line) for _, line in open_lines(meta)]))
    data, meta_dict = load_graph(graph_dir, check_sha256=False)
    validation = seconds(lambda: validate_graph(data, meta_dict))
    checksums = seconds(lambda: [sha256_file(p) for p in (reviews, meta, graph_dir / 'graph.pt')])
    checks = max(0.0, validated - bare) + 2 * validation + checksums   # validated on save and load
    return {'reader_seconds_validated': round(validated, 2), 'reader_seconds_bare_parse':
            round(bare, 2), 'schema_validation_seconds': round(validation, 3),
            'checksum_seconds': round(checksums, 3), 'checks_seconds': round(checks, 2),
            'checks_share_of_build': round(checks / build_seconds, 4)}


def text_rate(raw: Path, sample: int) -> dict:
    """Items per second of the ``minilm`` encoder on the first ``sample`` item documents of the
    dump (no cache, weights loaded beforehand)."""
    import numpy as np

    from data_builders.features.documents import item_documents
    from data_builders.readers import read_meta
    from data_builders.features.text import encode_texts

    metas = [m for _, m in zip(range(sample), read_meta(raw / 'meta.json.gz', '2014'))]
    docs = item_documents(np.array([m.item_id for m in metas]), metas)
    encode_texts(docs[:8], 'minilm', cache_dir=None, progress=False)   # load weights once
    start = time.perf_counter()
    encode_texts(docs, 'minilm', cache_dir=None, progress=False)
    seconds = time.perf_counter() - start
    return {'items': len(docs), 'seconds': seconds, 'items_per_second': len(docs) / seconds}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument('--preset', default='sports', choices=['sports', 'small'])
    p.add_argument('--repeats', type=int, default=3)
    p.add_argument('--text-sample', type=int, default=0, help='time minilm on N items')
    p.add_argument('--work', type=Path, default=None, help='keep the synthetic dump here')
    p.add_argument('--child', nargs=2, type=Path, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        print(json.dumps(one_build(*args.child)))
        return
    work = args.work or Path(tempfile.mkdtemp(prefix='bench_build_'))
    raw = work / f'raw-{args.preset}'
    if not (raw / 'ground_truth.json').is_file():
        from data_builders.synthetic import generate
        generate(raw, preset=args.preset, seed=0, images=False, progress=False)
    runs = []
    for i in range(args.repeats):
        child = subprocess.run([sys.executable, __file__, '--child', str(raw), str(work / f'g{i}')],
                               check=True, capture_output=True, text=True)
        runs.append(json.loads(child.stdout.strip().splitlines()[-1]))
    median_seconds = statistics.median(r['seconds'] for r in runs)
    median_rss = statistics.median(r['peak_rss_gib'] for r in runs)
    report = {
        'preset': args.preset, 'repeats': args.repeats, 'graph': runs[0]['stats'],
        'seconds_median': round(median_seconds, 2),
        'seconds_all': [round(r['seconds'], 2) for r in runs],
        'stage_seconds_median': {s: round(statistics.median(r['stages'][s] for r in runs), 3)
                                 for s in runs[0]['stages']},
        'peak_rss_gib_median': round(median_rss, 3),
        'targets': {'seconds': TARGET_SECONDS, 'peak_rss_gib': TARGET_RSS_GIB},
        'meets_targets': median_seconds <= TARGET_SECONDS and median_rss <= TARGET_RSS_GIB,
    }
    report['checks'] = checks_overhead(raw, work / 'g0', median_seconds)
    if args.text_sample:
        report['minilm'] = text_rate(raw, args.text_sample)
    print(json.dumps(report, indent=2))


if __name__ == '__main__':
    main()
