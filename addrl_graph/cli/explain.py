"""Commands ``recommend``, ``explain``, ``control-study`` and ``report`` of ``python -m
addrl_graph``: :func:`add_commands` registers them, :func:`run` handles them."""
from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path

from addrl_graph.errors import ConfigError
from addrl_graph.training.config import MAX_SEED

COMMANDS = ('recommend', 'explain', 'control-study', 'report')
#: t-SNE points per report panel: fewer than 10 show no structure (and t-SNE needs a
#: perplexity below the count), more than 100,000 take hours.
MIN_POINTS, MAX_POINTS = 10, 100_000
#: Characters of a title in a line of ``recommend`` / ``explain`` (the id stands beside it),
#: and of a value name heading a column of ``control-study``.
TITLE_WIDTH, VALUE_WIDTH = 60, 16


def parse_control(text: str | None) -> dict[str, float]:
    """``--control``: ``'price=2,popularity=0'`` → ``{'price': 2.0, 'popularity': 0.0}``."""
    from addrl_graph.explain.explainer import parse_control as parse_pairs
    try:
        return parse_pairs(text)
    except ValueError as e:
        raise ConfigError(f'--control takes attribute=xi pairs separated by commas, '
                          f'e.g. price=2,popularity=0 (got {e.args[0]!r})') from None


def int_in(low: int, high: int | None = None) -> Callable[[str], int]:
    """An argparse type: an int in ``[low, high]`` (``high`` :obj:`None`: no upper bound)."""
    bounds = f'>= {low}' if high is None else f'in [{low}, {high}]'

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < low or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f'expected an int {bounds} (got {text!r})')
        return value
    return parse


def png_path(text: str) -> Path:
    """An argparse type: the path of a PNG file; ``.png`` is added to a name without a suffix
    (what matplotlib would write)."""
    path = Path(text)
    if not path.suffix:
        return path.with_name(path.name + '.png')
    if path.suffix.lower() != '.png':
        raise argparse.ArgumentTypeError(f'expected a .png path (got {text!r})')
    return path


def _run_parser(sub, name: str, help_text: str) -> argparse.ArgumentParser:
    p = sub.add_parser(name, help=help_text)
    p.add_argument('--run', required=True, type=Path, help='training run folder')
    p.add_argument('--checkpoint', default='best', choices=['best', 'last'])
    p.add_argument('--data', type=Path, help='graph folder (default: the one the run used)')
    p.add_argument('--device', default='cpu')
    return p


def add_commands(subparsers) -> None:
    """Register the commands of this module on the ``add_subparsers()`` object of the CLI."""
    p = _run_parser(subparsers, 'recommend', 'top-k items of a user, with per-attribute '
                    'terms and optional control (Eq. 14)')
    p.add_argument('--user', required=True, action='append',
                   help='reviewerID (repeat for several users)')
    p.add_argument('-k', '--k', type=int_in(1), default=10, help='list length (default: 10)')
    p.add_argument('--control', help='attribute=xi pairs, e.g. price=2,popularity=0')
    p.add_argument('--include-seen', action='store_true',
                   help="keep the user's training and validation items in the list")
    p.add_argument('--json', action='store_true', help='print JSON')
    p = _run_parser(subparsers, 'explain', 'per-attribute terms, modality weights and '
                    'attribute values of one user-item pair')
    p.add_argument('--user', required=True, help='reviewerID')
    p.add_argument('--item', required=True, help='asin')
    p.add_argument('--json', action='store_true', help='print JSON')
    p = _run_parser(subparsers, 'control-study', 'paper Fig. 5: share of each value of an '
                    'attribute in the top-k as its xi varies')
    p.add_argument('--attribute', required=True)
    p.add_argument('--value', help='value the users lean to (default: the commonest lean)')
    p.add_argument('-k', '--k', type=int_in(1), default=20)
    p.add_argument('--num-users', type=int_in(1), default=100)
    p.add_argument('--min-lean', type=float, default=0.5,
                   help='least share of the value in a chosen user\'s history')
    p.add_argument('--show', type=int_in(0, 1000), default=5,
                   help='values shown beside the leaned-to one, most recommended first; the '
                        'rest are summed in one column (default: 5)')
    p.add_argument('--out', type=png_path,
                   help='PNG path, .png added to a name without one '
                        '(default: RUN/control_<attribute>.png)')
    p.add_argument('--json', action='store_true', help='print JSON')
    p = _run_parser(subparsers, 'report', 'write report.md and report.html for a run')
    p.add_argument('--out', type=Path, help='folder (default: RUN/report)')
    p.add_argument('--max-points', type=int_in(MIN_POINTS, MAX_POINTS), default=1000,
                   help='t-SNE points per panel')
    p.add_argument('--seed', type=int_in(0, MAX_SEED), default=0)


def run(args: argparse.Namespace) -> bool:
    """Handle ``args`` if its command is one of :data:`COMMANDS` (print the result, raise
    :class:`~addrl_graph.errors.AddrlError` on user errors); ``False`` for other commands."""
    if args.command not in COMMANDS:
        return False
    from addrl_graph.explain.explainer import Explainer, explain, recommend
    ex = Explainer.from_run(args.run, args.checkpoint, args.data, args.device)
    if args.command == 'recommend':
        lists = recommend(ex, args.user, args.k, parse_control(args.control),
                          exclude_seen=not args.include_seen)
        if args.json:
            print(json.dumps({u: [r.to_dict() for r in rs] for u, rs in lists.items()},
                             indent=2))
        for user, recs in ([] if args.json else lists.items()):
            print(f'user {user}')
            for r in recs:
                _print_recommendation(r)
    elif args.command == 'explain':
        e = explain(ex, args.user, args.item)
        if args.json:
            print(json.dumps(e.to_dict(), indent=2))
        else:
            _print_explanation(e)
    elif args.command == 'control-study':
        from addrl_graph.explain.studies import control_study
        from addrl_graph.explain.viz import plot_control_study
        study = control_study(ex, args.attribute, args.value, k=args.k,
                              num_users=args.num_users, min_lean=args.min_lean)
        path = plot_control_study(study, args.out or args.run / f'control_{args.attribute}.png')
        if args.json:
            print(json.dumps(dict(study.to_dict(), plot=str(path)), indent=2))
        else:
            _print_study(study, args.show)
            print(f'plot: {path}')
    else:
        from addrl_graph.explain.report import write_report
        paths = write_report(args.run, args.out, ex, max_points=args.max_points,
                             seed=args.seed)
        print(json.dumps({k: str(v) for k, v in paths.items()}, indent=2))
    return True


def _title(title: str | None) -> str:
    from addrl_graph.data.catalog import cut
    return f'  {cut(title, TITLE_WIDTH)}' if title else ''


def _print_recommendation(r) -> None:
    """Two lines: rank, id, score and title; then the values and the three largest terms."""
    top = sorted(r.terms.items(), key=lambda t: -t[1])[:3]
    print(f'  {r.rank:3d}  {r.item}  score {r.score:8.4f}{_title(r.title)}')
    print('       ' + '; '.join(f'{n} = {v}' for n, v in r.values.items())
          + '   terms ' + '  '.join(f'{n} {t:.3f}' for n, t in top))


def _print_explanation(e) -> None:
    print(f'user {e.user}, item {e.item}{_title(e.title)}')
    print(f'  score {e.score:.4f}, top attribute {e.top_attribute}')
    for name, term in e.terms.items():
        weights = ' '.join(f'{m} {w:.2f}' for m, w in e.modality_weights[name].items())
        value = f' = {e.values[name]}' if name in e.values else ''
        print(f'  {name}{value}: {term:.4f}, lift {e.lift[name]:+.4f}   (weights {weights})')


def _print_study(study, show: int) -> None:
    """The leaned-to value, the ``show`` most recommended others and the rest summed, one
    fixed-width column each; shortened names are spelled out below the table."""
    from addrl_graph.explain.studies import study_table
    head, rows = study_table(study, show, VALUE_WIDTH)
    print(f'{len(study.users)} users leaning to {study.attribute} = {study.value} (first '
          f'column); share of each value in their top-{study.k}:')
    widths = [max(len(c) for c in column) for column in zip(head, *rows)]
    for row in [head, *rows]:
        print('  '.join(c.rjust(w) for c, w in zip(row, widths)))
    shown = study.summary(show)[0]
    cut_names = [(h, n) for h, n in zip(head[1:], shown) if h != n]
    if cut_names:
        print('names: ' + '; '.join(f'{h} = {n}' for h, n in cut_names))
