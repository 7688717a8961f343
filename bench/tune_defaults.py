"""Reproduce how the per-model defaults were chosen on real data, and check them; prints JSON.

1. **Search** every model with ``addrl_graph.training.tune`` on the real Beauty 2014 half
   (``../shared/data/amazon-2014-beauty-half-a``, 5-core, paper split, minilm title
   documents, no images): validation Recall@20 only, the test split is never read. A study
   that already exists in ``--work`` resumes, so a finished study is not searched again.
2. **Choose** AD-DRL's setting: the best trial whose model keeps control — the share of the
   leaned-to value in the top-20 falls strictly from ξ = 2 to ξ = −1 for price, popularity and
   category (:func:`addrl_graph.explain.studies.control_study`, training histories only). The
   baselines take their best trial.
3. **Old vs new defaults** on the Beauty half, each seed of ``--seeds`` a run of its own
   (the test split read once per run, at the checkpoint chosen on validation): test
   Recall/NDCG@20, and for AD-DRL the chunk silhouettes, the intra and low-level classifier
   accuracies and the control study of those three attributes. "New" is what the code's
   defaults are now (``TrainConfig()``, ``ModelConfig()``, ``MODEL_DEFAULTS``), and the JSON
   says whether they match the chosen trials; "old" is the configuration the defaults were
   before this search (:data:`OLD`).
4. The same old-vs-new test Recall@20 (AD-DRL, BPR-MF; LightGCN at its new defaults) on the
   real 2018 Gift Cards and Magazine 5-cores and on the synthetic ``small`` preset.

Writes ``OUT/tune_defaults.json`` and ``OUT/tune_defaults.md``.

    python bench/tune_defaults.py                         # hours on a 2-core CPU
    python bench/tune_defaults.py --skip-search           # reuse the studies in --work
"""
from __future__ import annotations

import argparse
import concurrent.futures
import dataclasses
import json
import math
import multiprocessing
import statistics
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / 'shared' / 'data'
BEAUTY = SHARED / 'amazon-2014-beauty-half-a'
MAGAZINE = SHARED / 'amazon-2018-magazine'
MODELS = ('addrl', 'lightgcn', 'bpr-mf', 'vbpr')
CONTROLLED = ('price', 'popularity', 'category')
#: Trials and study minutes per model (whichever ends first).
BUDGET = {'addrl': (60, 40.0), 'lightgcn': (30, 12.0), 'bpr-mf': (30, 8.0), 'vbpr': (30, 8.0)}
#: The fixed settings of every trial: at most 40 epochs, 4 minutes, patience 5.
TRIAL = {'epochs': 40, 'patience': 5, 'max_minutes': 4.0}
#: Each old-vs-new run: the defaults (patience 10, up to 1000 epochs) within 8 minutes.
RUN_MINUTES = 8.0

#: The defaults before this search: ModelConfig as tuned on the synthetic ``small`` preset,
#: with the example's laptop rates (AD-DRL 1e-2, every baseline 1e-3; the paper's 1e-4 needs
#: hundreds of epochs), 8 negatives for every model, patience 10.
OLD: dict[str, dict[str, Any]] = {
    'addrl': {'train': {'lr': 1e-2, 'num_neg': 8},
              'model': {'d_chunk': 32, 'free_chunks': 1, 'bpr_reduction': 'mean',
                        'alpha': 5.0, 'beta': 0.01, 'gamma': 10.0, 'l2': 0.1,
                        'id_encoder': 'embedding', 'encoder_layers': 2}},
    'lightgcn': {'train': {'lr': 1e-3, 'num_neg': 8},
                 'baseline': {'embedding_dim': 64, 'l2': 1e-4, 'num_layers': 3}},
    'bpr-mf': {'train': {'lr': 1e-3, 'num_neg': 8}, 'baseline': {'embedding_dim': 64, 'l2': 1e-4}},
    'vbpr': {'train': {'lr': 1e-3, 'num_neg': 8}, 'baseline': {'embedding_dim': 32, 'l2': 1e-4}},
}


#: The real dumps: graph name → (format, reviews, metadata).
SOURCES = {
    'beauty-2014-half': ('2014', BEAUTY / 'reviews_Beauty_5.json.gz',
                         BEAUTY / 'meta_Beauty.json.gz'),
    'gift-cards-2018': ('2018', SHARED / 'amazon-2018-gift-cards' / 'Gift_Cards_5.json.gz',
                        SHARED / 'amazon-2018-gift-cards' / 'meta_Gift_Cards.json.gz'),
    'magazine-2018': ('2018', MAGAZINE / 'Magazine_Subscriptions_5.json.gz',
                      MAGAZINE / 'meta_Magazine_Subscriptions.json.gz'),
}


def build_real_graph(name: str, work: Path) -> Path:
    """The graph of real dump ``name`` of :data:`SOURCES` in ``work/graphs`` (built once:
    minilm documents of title/brand/categories, no images, the paper split, seed 0)."""
    from data_builders.build import BuildConfig, build

    fmt, reviews, meta = SOURCES[name]
    out = work / 'graphs' / name
    if not (out / 'graph.pt').is_file():
        build(BuildConfig(format=fmt, reviews=reviews, meta=meta, out=out,
                          text_encoder='minilm', image_encoder='none',
                          cache_dir=work / 'cache', progress=False))
    return out


def build_graphs(work: Path) -> dict[str, Path]:
    """The real graphs (built once into ``work``) and the synthetic ``small`` one."""
    from data_builders.build import BuildConfig, build
    from data_builders.synthetic import generate

    graphs = {name: build_real_graph(name, work) for name in SOURCES}
    raw, out = work / 'raw-small', work / 'graphs' / 'synthetic-small'
    if not (out / 'graph.pt').is_file():
        generate(raw, preset='small', seed=0, images=True, progress=False)
        build(BuildConfig(format='2014', reviews=raw / 'reviews.json.gz', meta=raw / 'meta.json.gz',
                          images=raw / 'images', out=out, text_reviews=False, text_max_length=64,
                          image_size=64, cache_dir=work / 'cache', progress=False))
    graphs['synthetic-small'] = out
    return graphs


def search(graph: Path, work: Path, workers: int) -> dict[str, Any]:
    """Run (or resume) each model's study; return each study's trials table and best file."""
    from addrl_graph.training.train import TrainConfig
    from addrl_graph.training.tune import tune

    studies = {}
    for model in MODELS:
        trials, minutes = BUDGET[model]
        summary = tune(graph, work / 'studies' / model, TrainConfig(model=model, **TRIAL),
                       trials=trials, max_minutes=minutes, workers=workers, progress=True)
        studies[model] = summary
    return studies


def controls(ex) -> dict[str, dict[str, Any]]:
    """Control study of :data:`CONTROLLED`: leaned-to value, its share per ξ, monotone?"""
    from addrl_graph.explain.studies import control_study

    out = {}
    for attribute in CONTROLLED:
        study = control_study(ex, attribute)
        share = study.preferred_share
        out[attribute] = {'value': study.value, 'users': len(study.users),
                          'xis': study.xis, 'share': [round(s, 4) for s in share],
                          'strictly_falling': all(a > b for a, b in zip(share, share[1:]))}
    return out


def keeps_control(run_dir: Path) -> tuple[bool, dict[str, Any]]:
    from addrl_graph.explain.explainer import Explainer

    study = controls(Explainer.from_run(run_dir))
    return all(s['strictly_falling'] for s in study.values()), study


def choose(work: Path) -> dict[str, Any]:
    """Each model's chosen trial (AD-DRL: the best that keeps control)."""
    import optuna

    chosen = {}
    for model in MODELS:
        database = (work / 'studies' / model / 'study.db').resolve()
        study = optuna.load_study(study_name=f'addrl-graph-{model}',
                                  storage=f'sqlite:///{database}')
        done = sorted(study.get_trials(states=(optuna.trial.TrialState.COMPLETE,)),
                      key=lambda t: -t.value)
        passed_over = []
        for trial in done:
            run = Path(trial.user_attrs['run'])
            entry = {'trial': trial.number, 'valid_recall@20': trial.value,
                     'params': trial.params, 'run': str(run)}
            if model == 'addrl':
                ok, entry['control'] = keeps_control(run)
                if not ok:
                    passed_over.append(entry)
                    continue
            chosen[model] = dict(entry, passed_over=passed_over,
                                 finished_trials=len(study.get_trials(states=(
                                     optuna.trial.TrialState.COMPLETE,
                                     optuna.trial.TrialState.PRUNED))))
            break
    return chosen


def configs(model: str, which: str):
    """``(TrainConfig, ModelConfig)`` of ``model`` under the ``old`` or ``new`` defaults."""
    from addrl_graph.nn.config import BaselineConfig, ModelConfig
    from addrl_graph.training.train import TrainConfig

    if which == 'new':
        return TrainConfig(model=model, max_minutes=RUN_MINUTES), ModelConfig()
    old = OLD[model]
    return (TrainConfig(model=model, **old['train'], max_minutes=RUN_MINUTES,
                        baseline=BaselineConfig(**old.get('baseline', {}))),
            ModelConfig(**old.get('model', {})))


def run_job(job: dict[str, Any]) -> dict[str, Any]:
    """One training run (one thread) and, for AD-DRL on the headline data, its diagnostics."""
    import torch

    from addrl_graph.training.train import train

    torch.set_num_threads(1)
    train_config, model_config = configs(job['model'], job['which'])
    train_config = dataclasses.replace(train_config, seed=job['seed'])
    run_dir = Path(job['run'])
    results = (json.loads((run_dir / 'results.json').read_text())
               if (run_dir / 'results.json').is_file()
               else train(job['graph'], run_dir, train_config, model_config, progress=False))
    row = {k: job[k] for k in ('dataset', 'model', 'which', 'seed')}
    row.update({'best_epoch': results['best_epoch'], 'epochs_run': results['epochs_run'],
                'seconds_per_epoch': results['seconds_per_epoch'],
                'valid_recall@20': results['valid']['recall@20'],
                'test_recall@20': results['test']['recall@20'],
                'test_ndcg@20': results['test']['ndcg@20']})
    if job['diagnostics']:
        from addrl_graph.explain.diagnostics import intra_accuracy, low_accuracy
        from addrl_graph.explain.explainer import Explainer
        from addrl_graph.explain.viz import chunk_silhouettes

        ex = Explainer.from_run(run_dir)
        row['silhouette'] = chunk_silhouettes(ex)
        row['intra_accuracy'] = intra_accuracy(ex.model, ex.data)
        row['low_accuracy'] = low_accuracy(ex.model, ex.data)
        row['control'] = controls(ex)
    return row


def comparison_jobs(graphs: dict[str, Path], work: Path, seeds: list[int],
                    old_baselines: bool = False) -> list[dict]:
    """Every old-vs-new run: on the headline data AD-DRL old and new and every baseline new
    (old too with ``old_baselines``); elsewhere AD-DRL and BPR-MF old and new, LightGCN new."""
    jobs = []
    for dataset, graph in graphs.items():
        headline = dataset == 'beauty-2014-half'
        runs = ([('addrl', 'old')] + [(m, 'new') for m in MODELS]
                + [(m, 'old') for m in MODELS[1:] if old_baselines] if headline else
                [('addrl', 'old'), ('addrl', 'new'), ('bpr-mf', 'old'), ('bpr-mf', 'new'),
                 ('lightgcn', 'new')])
        for model, which in runs:
            for seed in seeds:
                jobs.append({'dataset': dataset, 'graph': str(graph), 'model': model,
                             'which': which, 'seed': seed,
                             'run': str(work / 'defaults' / dataset / f'{model}-{which}-{seed}'),
                             'diagnostics': headline and model == 'addrl'})
    return jobs


def compare_defaults(jobs: list[dict[str, Any]], workers: int) -> list[dict[str, Any]]:
    """Run the jobs (a finished run folder is read, not trained again)."""
    context = multiprocessing.get_context('spawn')
    with concurrent.futures.ProcessPoolExecutor(workers, mp_context=context) as pool:
        return list(pool.map(run_job, jobs))


def _mean_std(values: list[float]) -> dict[str, float]:
    return {'mean': statistics.fmean(values),
            'std': statistics.stdev(values) if len(values) > 1 else 0.0,
            'min': min(values), 'max': max(values)}


def aggregate(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    groups: dict[tuple, list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault((row['dataset'], row['model'], row['which']), []).append(row)
    table = []
    for (dataset, model, which), group in groups.items():
        entry = {'dataset': dataset, 'model': model, 'which': which, 'seeds': len(group)}
        for metric in ('test_recall@20', 'test_ndcg@20', 'valid_recall@20', 'best_epoch',
                       'epochs_run', 'seconds_per_epoch'):
            entry[metric] = _mean_std([r[metric] for r in group])
        if 'control' in group[0]:
            entry['control_strictly_falling'] = {
                a: sum(r['control'][a]['strictly_falling'] for r in group) for a in CONTROLLED}
            entry['control_share'] = {a: [statistics.fmean(r['control'][a]['share'][i]
                                                           for r in group)
                                          for i in range(len(group[0]['control'][a]['share']))]
                                      for a in CONTROLLED}
            for key in ('silhouette', 'intra_accuracy', 'low_accuracy'):
                entry[key] = {k: statistics.fmean(r[key][k] for r in group) for k in group[0][key]}
        table.append(entry)
    return table


def matches_choice(chosen: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """For each model, the chosen trial's parameters the code's defaults differ from (lr and
    loss weights compared to 2 significant digits, as the code keeps them)."""
    from addrl_graph.training.tune import apply_params

    out = {}
    for model, entry in chosen.items():
        train_config, model_config = configs(model, 'new')
        resolved = train_config.validate().resolved()
        tuned_train, tuned_model = apply_params(entry['params'], resolved, model_config)
        now = {**dataclasses.asdict(resolved), **model_config.to_dict()}
        tuned = {**dataclasses.asdict(tuned_train), **tuned_model.to_dict()}
        out[model] = {k: {'default': now[k], 'chosen': tuned[k]} for k in tuned
                      if not _close(now[k], tuned[k])}
    return out


def _close(a: Any, b: Any) -> bool:
    if isinstance(a, dict) and isinstance(b, dict):
        return all(_close(a.get(k), b.get(k)) for k in set(a) | set(b))
    if isinstance(a, float) or isinstance(b, float):
        return (a is not None and b is not None
                and math.isclose(float(f'{a:.2g}'), float(f'{b:.2g}'), rel_tol=1e-9))
    return a == b


def markdown(report: dict[str, Any]) -> str:
    lines = ['# Defaults chosen on real data', '',
             'Studies: validation Recall@20 on the Beauty 2014 half; trial settings '
             f"{TRIAL}.", '',
             '| model | finished trials | chosen trial | valid R@20 | parameters |',
             '|---|---|---|---|---|']
    for model, entry in report['chosen'].items():
        params = ', '.join(f'{k}={v:.3g}' if isinstance(v, float) else f'{k}={v}'
                           for k, v in entry['params'].items())
        skipped = (f" (passed over {len(entry['passed_over'])} better trials that lose control)"
                   if entry['passed_over'] else '')
        lines.append(f"| {model} | {entry['finished_trials']} | {entry['trial']}{skipped} | "
                     f"{entry['valid_recall@20']:.4f} | {params} |")
    lines += ['', '## Old vs new defaults (test split read once per run; mean ± std over seeds)',
              '', '| data | model | defaults | test R@20 | test N@20 | best epoch | s/epoch |',
              '|---|---|---|---|---|---|---|']
    for e in report['table']:
        lines.append(f"| {e['dataset']} | {e['model']} | {e['which']} | "
                     f"{e['test_recall@20']['mean']:.4f} ± {e['test_recall@20']['std']:.4f} | "
                     f"{e['test_ndcg@20']['mean']:.4f} ± {e['test_ndcg@20']['std']:.4f} | "
                     f"{e['best_epoch']['mean']:.1f} | {e['seconds_per_epoch']['mean']:.1f} |")
    lines += ['', '## AD-DRL disentanglement and control on the Beauty half (mean over seeds)', '']
    for e in report['table']:
        if 'control_share' not in e:
            continue
        lines.append(f"**{e['which']} defaults** — silhouettes "
                     + ', '.join(f'{k} {v:.3f}' for k, v in e['silhouette'].items())
                     + '; intra accuracy ' + ', '.join(f'{k} {v:.3f}'
                                                       for k, v in e['intra_accuracy'].items())
                     + '; low-level accuracy ' + ', '.join(f'{k} {v:.3f}'
                                                           for k, v in e['low_accuracy'].items()))
        lines.append('')
        lines.append('| attribute | share of leaned-to value, ξ = 2 / 1 / 0.5 / 0 / −1 | '
                     'strictly falling (seeds) |')
        lines.append('|---|---|---|')
        for a in CONTROLLED:
            lines.append(f"| {a} | {' / '.join(f'{s:.3f}' for s in e['control_share'][a])} | "
                         f"{e['control_strictly_falling'][a]} of {e['seeds']} |")
        lines.append('')
    return '\n'.join(lines) + '\n'


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--work', type=Path, default=ROOT / 'data' / 'tune-defaults',
                   help='graphs, studies and runs (reused when present)')
    p.add_argument('--out', type=Path, default=ROOT / 'runs' / 'tune-defaults')
    p.add_argument('--seeds', default='0,1,2')
    p.add_argument('--workers', type=int, default=2, help='processes (trials, runs)')
    p.add_argument('--skip-search', action='store_true',
                   help='use the studies in --work as they are')
    p.add_argument('--old-baselines', action='store_true',
                   help='also train the baselines at their old defaults on the Beauty half '
                        '(lr 1e-3: they run into the 8-minute cap)')
    args = p.parse_args()
    seeds = [int(s) for s in args.seeds.split(',')]
    graphs = build_graphs(args.work)
    if not args.skip_search:
        search(graphs['beauty-2014-half'], args.work, args.workers)
    chosen = choose(args.work)
    rows = compare_defaults(comparison_jobs(graphs, args.work, seeds, args.old_baselines),
                            args.workers)
    report = {'data': {k: str(v) for k, v in graphs.items()}, 'seeds': seeds, 'trial': TRIAL,
              'run_minutes': RUN_MINUTES,
              'budget': {m: {'trials': t, 'minutes': s} for m, (t, s) in BUDGET.items()},
              'chosen': chosen, 'defaults_differ_from_choice': matches_choice(chosen),
              'table': aggregate(rows), 'runs': rows}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / 'tune_defaults.json').write_text(json.dumps(report, indent=2, default=str))
    (args.out / 'tune_defaults.md').write_text(markdown(report))
    print(json.dumps({k: report[k] for k in ('chosen', 'defaults_differ_from_choice', 'table')},
                     indent=2, default=str))
    return 0


if __name__ == '__main__':
    sys.exit(main())
