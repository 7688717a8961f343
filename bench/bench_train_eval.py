"""Benchmark: AD-DRL training epoch, full-ranking evaluation and loader throughput; prints JSON.

On the synthetic ``sports`` preset (21,400 users, 36,224 items, 209,944 interactions) unless
``--data`` names a built graph. Without ``--data`` the graph is built structure-only and given
random item features of the real encoders' widths (minilm 384, EfficientNet-Lite0 1280), which
costs the same to train on; the JSON says so. Medians over ``--repeats``.

``--id-encoder`` picks AD-DRL's ID-chunk encoder (``embedding``, ``lightgcn``, ``gcn``,
``sage``). ``--scale N`` tiles the graph ``N`` times (disjoint copies of users, items and
interactions sharing the attribute values), so epoch time and memory can be read at 1x, 2x,
4x the size; run one scale per process, since peak RSS only grows within a process.
``--num-neighbors 10,5`` trains a graph encoder on sampled neighbourhoods (one fan-out per
encoder layer) instead of the whole graph every step; the loader figure then includes the
sampling.

    python bench/bench_train_eval.py --preset sports --repeats 3
    python bench/bench_train_eval.py --id-encoder lightgcn --scale 2 --repeats 1
    python bench/bench_train_eval.py --id-encoder lightgcn --num-neighbors 10,5 --repeats 1
"""
from __future__ import annotations

import argparse
import json
import resource
import statistics
import tempfile
import time
from pathlib import Path

import torch

TARGETS = {'epoch_seconds': 90.0, 'evaluation_seconds': 20.0, 'peak_rss_gib': 6.0}


def synthetic_graph(preset: str, work: Path) -> Path:
    """Structure from the synthetic dump, random features of the real encoders' widths."""
    from addrl_graph.data.schema import load_graph, save_graph
    from data_builders.build import BuildConfig, build
    from data_builders.synthetic import generate

    raw, out = work / f'raw-{preset}', work / f'graph-{preset}'
    if not (out / 'graph.pt').is_file():
        generate(raw, preset=preset, seed=0, images=False, progress=False)
        build(BuildConfig(format='2014', reviews=raw / 'reviews.json.gz',
                          meta=raw / 'meta.json.gz', out=out, text_encoder='none',
                          image_encoder='none', progress=False))
        data, meta = load_graph(out)
        gen = torch.Generator().manual_seed(0)
        item = data['item']
        item.x_text = torch.randn(item.num_nodes, 384, generator=gen)
        item.x_image = torch.randn(item.num_nodes, 1280, generator=gen).relu()
        item.has_text = torch.ones(item.num_nodes, dtype=torch.bool)
        item.has_image = torch.rand(item.num_nodes, generator=gen) > 0.05
        meta['text_encoder'] = {'name': 'random (minilm width)', 'dim': 384, 'checksum': None}
        meta['image_encoder'] = {'name': 'random (efficientnet-lite0 width)', 'dim': 1280,
                                 'checksum': None}
        save_graph(out, data, meta)
    return out


def tile_graph(data, factor: int):
    """``factor`` disjoint copies of users, items and interactions (same attribute values)."""
    from addrl_graph.data.schema import INTERACTS, REV_INTERACTS, has_edge, rev_has_edge

    if factor == 1:
        return data
    out = data.clone()
    U, I = data['user'].num_nodes, data['item'].num_nodes
    out['user'].num_nodes, out['item'].num_nodes = U * factor, I * factor
    item = data['item']
    for key in ('x_text', 'x_image', 'has_text', 'has_image', 'attr'):
        out['item'][key] = item[key].repeat(factor, *([1] * (item[key].dim() - 1)))
    shift = torch.arange(factor).repeat_interleave(data[INTERACTS].edge_index.size(1))
    edges = data[INTERACTS].edge_index.repeat(1, factor) + torch.stack([shift * U, shift * I])
    out[INTERACTS].edge_index, out[INTERACTS].split = edges, data[INTERACTS].split.repeat(factor)
    out[REV_INTERACTS].edge_index = edges.flip(0)
    for col, name in enumerate(_attribute_names(data)):
        has = torch.stack([torch.arange(I * factor), out['item'].attr[:, col]])
        out[has_edge(name)].edge_index, out[rev_has_edge(name)].edge_index = has, has.flip(0)
    return out


def _attribute_names(data) -> list[str]:
    return [t for t in data.node_types if t not in ('user', 'item')]


def loader_rate(data, batch_size: int, num_neg: int, **sampling) -> float:
    """Positive edges per second of one full pass of the training loader alone (``sampling``:
    ``num_neighbors`` and ``attribute_neighbors`` of the loader)."""
    from addrl_graph.loader.link_loader import make_train_loader

    start, edges = time.perf_counter(), 0
    for batch in make_train_loader(data, batch_size=batch_size, num_neg=num_neg, seed=1,
                                   **sampling):
        edges += batch.num_users
    return edges / (time.perf_counter() - start)


def epoch_seconds(data, meta, model_name: str, batch_size: int, num_neg: int, device,
                  model_config=None, sparse_embeddings: bool = False, **sampling) -> float:
    """Seconds of one training epoch (every training edge once) with the real objective."""
    from addrl_graph.data.train_graph import TrainGraph
    from addrl_graph.loader.link_loader import make_train_loader
    from addrl_graph.nn.registry import build_model
    from addrl_graph.training.optim import make_optimizer

    graph = TrainGraph.from_data(data, meta).to(device)
    model = build_model(model_name, graph, model_config)
    model.to(device).train()
    optimizer = make_optimizer(model, 1e-4, sparse_embeddings)
    start = time.perf_counter()
    for batch in make_train_loader(data, batch_size=batch_size, num_neg=num_neg, seed=0,
                                   **sampling):
        loss, _ = model(batch.to(device), graph)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    if device.type == 'cuda':
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    model.eval()
    return seconds, model, graph


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument('--preset', default='sports', choices=['sports', 'small'])
    p.add_argument('--data', type=Path, help='a built graph folder instead of the preset')
    p.add_argument('--model', default='addrl')
    p.add_argument('--repeats', type=int, default=3)
    p.add_argument('--batch-size', type=int, default=1024)
    p.add_argument('--num-neg', type=int, default=8)
    p.add_argument('--device', default='cpu')
    p.add_argument('--work', type=Path, help='keep the generated graph here')
    p.add_argument('--id-encoder', default='embedding',
                   choices=['embedding', 'lightgcn', 'gcn', 'sage'])
    p.add_argument('--encoder-layers', type=int, default=2)
    p.add_argument('--scale', type=int, default=1, help='tile the graph this many times')
    p.add_argument('--num-neighbors', help='fan-outs per encoder layer, e.g. 10,5 (default: '
                   'the whole graph every step)')
    p.add_argument('--sparse-embeddings', action='store_true',
                   help='lazy Adam on the ID tables (addrl_graph.training.optim)')
    args = p.parse_args()
    from addrl_graph.nn.config import ModelConfig
    from addrl_graph.data.schema import load_graph
    from addrl_graph.nn.encoders import ATTRIBUTE_ENCODERS
    from addrl_graph.metrics.evaluate import evaluate
    from addrl_graph.training.train import TrainConfig

    model_config = ModelConfig(id_encoder=args.id_encoder, encoder_layers=args.encoder_layers)
    train_config = TrainConfig(model=args.model, num_neighbors=(
        [int(n) for n in args.num_neighbors.split(',')] if args.num_neighbors else None))
    device = torch.device(args.device)
    graph_dir = args.data or synthetic_graph(args.preset,
                                             args.work or Path(tempfile.mkdtemp(prefix='bench_')))
    data, meta = load_graph(graph_dir)
    data = tile_graph(data, args.scale)
    sampling = {'num_neighbors': train_config.num_neighbors,
                'attribute_neighbors': args.id_encoder in ATTRIBUTE_ENCODERS}
    epochs, evals, rates = [], [], []
    for _ in range(args.repeats):
        rates.append(loader_rate(data, args.batch_size, args.num_neg, **sampling))
        seconds, model, graph = epoch_seconds(data, meta, args.model, args.batch_size, args.num_neg,
                                       device, model_config, args.sparse_embeddings,
                                       **sampling)
        epochs.append(seconds)
        start = time.perf_counter()
        evaluate(model, data, 'test', device=device, progress=False, graph=graph)
        evals.append(time.perf_counter() - start)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    report = {
        'graph': str(graph_dir), 'model': args.model, 'device': str(device),
        'id_encoder': args.id_encoder, 'encoder_layers': args.encoder_layers,
        'num_neighbors': train_config.num_neighbors, 'scale': args.scale,
        'sparse_embeddings': args.sparse_embeddings,
        'parameters': sum(p.numel() for p in model.parameters()),
        'features': f"text {meta['text_encoder']['name']}, image {meta['image_encoder']['name']}",
        'users': data['user'].num_nodes, 'items': data['item'].num_nodes,
        'train_edges': int((data['user', 'interacts', 'item'].split == 0).sum()),
        'batch_size': args.batch_size, 'num_neg': args.num_neg, 'threads': torch.get_num_threads(),
        'epoch_seconds_median': round(statistics.median(epochs), 2),
        'epoch_seconds_all': [round(s, 2) for s in epochs],
        'evaluation_seconds_median': round(statistics.median(evals), 2),
        'evaluation_seconds_all': [round(s, 2) for s in evals],
        'loader_positive_edges_per_second_median': round(statistics.median(rates)),
        'loader_triplets_per_second_median': round(statistics.median(rates) * args.num_neg),
        'peak_rss_gib': round(rss, 3),
        'peak_cuda_gib': (round(torch.cuda.max_memory_allocated() / 2**30, 3)
                          if device.type == 'cuda' else None),
        'targets': TARGETS,
    }
    report['meets_targets'] = (report['epoch_seconds_median'] <= TARGETS['epoch_seconds']
                               and report['evaluation_seconds_median'] <= TARGETS['evaluation_seconds']
                               and rss <= TARGETS['peak_rss_gib'])
    print(json.dumps(report, indent=2))


if __name__ == '__main__':
    main()
