"""Command line: ``python -m data_builders {build,synthetic} ...``."""
from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from addrl_graph.errors import AddrlError
from data_builders.attributes import AttributeConfig


def _optional_int(text: str) -> int | None:
    return None if text.lower() in ('none', 'leaf') else int(text)


def _add_build_args(p: argparse.ArgumentParser) -> None:
    p.add_argument('--format', required=True, choices=['2014', '2018', '2023'])
    p.add_argument('--reviews', required=True, type=Path, help='review dump (.json[l][.gz])')
    p.add_argument('--meta', type=Path, help='metadata dump (.json[l][.gz])')
    p.add_argument('--out', required=True, type=Path, help='output folder')
    images = p.add_mutually_exclusive_group()
    images.add_argument('--images', type=Path, help='folder of images named <item id>.<ext>')
    images.add_argument('--download-images', action='store_true',
                        help="fetch the dumps' image URLs into the cache")
    p.add_argument('--text-encoder', default='minilm',
                   help="'minilm' (packaged, offline), 'none', or a Hugging Face BERT name/path")
    p.add_argument('--image-encoder', default='efficientnet-lite0',
                   help="'efficientnet-lite0' (packaged, offline), 'none', or a ViT/CLIP "
                        'name/path')
    p.add_argument('--text-features', type=Path, help='import MMRec text_feat.npy instead')
    p.add_argument('--image-features', type=Path,
                   help='import MMRec image_feat.npy or a 2014 image_features_<Cat>.b instead')
    p.add_argument('--text-max-length', type=int, help="text encoder token limit "
                   "(default: the encoder's own, at most 512)")
    p.add_argument('--image-size', type=int,
                   help='efficientnet-lite0 input side (default 224; smaller is faster)')
    p.add_argument('--no-text-reviews', dest='text_reviews', action='store_false',
                   help="leave the items' training reviews out of their text documents")
    p.add_argument('--split', default='paper', choices=['paper', 'mmrec'])
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--k-core', type=int, default=5)
    p.add_argument('--strict', action='store_true', help='stop at the first malformed line')
    p.add_argument('--cache-dir', type=Path, help='feature/image cache (default OUT/cache)')
    p.add_argument('--batch-size', type=int, default=64, help='encoder batch size')
    p.add_argument('--device', default='cpu')
    defaults = AttributeConfig()
    p.add_argument('--attributes', default=','.join(defaults.names),
                   help='comma-separated: price, popularity, brand, category, extra:<key>')
    p.add_argument('--price-levels', type=int, default=defaults.price_levels)
    p.add_argument('--popularity-levels', type=int, default=defaults.popularity_levels)
    p.add_argument('--popularity-source', default=defaults.popularity_source,
                   choices=['interactions', 'sales_rank'])
    p.add_argument('--brand-min-count', type=int, default=defaults.brand_min_count)
    p.add_argument('--category-depth', type=_optional_int, default=defaults.category_depth,
                   help="depth in the category path, or 'leaf' (default)")
    p.add_argument('--category-min-count', type=int, default=defaults.category_min_count)
    p.add_argument('--extra-min-count', type=int, default=defaults.extra_min_count)


def _run_build(args: argparse.Namespace) -> None:
    from data_builders.build import BuildConfig, build
    from data_builders.summary import format_summary

    attributes = AttributeConfig(
        names=[a.strip() for a in args.attributes.split(',') if a.strip()],
        price_levels=args.price_levels, popularity_levels=args.popularity_levels,
        popularity_source=args.popularity_source, brand_min_count=args.brand_min_count,
        category_depth=args.category_depth, category_min_count=args.category_min_count,
        extra_min_count=args.extra_min_count)
    config = BuildConfig(
        format=args.format, reviews=args.reviews, meta=args.meta, out=args.out,
        images=args.images, download_images=args.download_images,
        text_encoder=args.text_encoder, image_encoder=args.image_encoder,
        text_features=args.text_features, image_features=args.image_features,
        text_max_length=args.text_max_length, image_size=args.image_size,
        text_reviews=args.text_reviews, split=args.split, seed=args.seed, k_core=args.k_core,
        strict=args.strict, cache_dir=args.cache_dir, batch_size=args.batch_size,
        device=args.device, progress=not args.quiet and sys.stderr.isatty(),
        attributes=attributes)
    meta = build(config)
    print(format_summary(meta))
    print(f'wrote {args.out / "graph.pt"} and {args.out / "meta.json"}')


def _run_synthetic(args: argparse.Namespace) -> None:
    from data_builders.synthetic import generate

    summary = generate(args.out, preset=args.preset, seed=args.seed, images=not args.no_images,
                       progress=not args.quiet and sys.stderr.isatty())
    print(json.dumps(summary, indent=2, default=str))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog='python -m data_builders',
                                     description='Amazon review dumps → AD-DRL graph')
    parser.add_argument('--quiet', action='store_true', help='no progress bars, warnings only')
    sub = parser.add_subparsers(dest='command', required=True)
    _add_build_args(sub.add_parser('build', help='build graph.pt + meta.json from dumps'))
    syn = sub.add_parser('synthetic', help='write a synthetic 2014-format dump')
    syn.add_argument('--preset', default='small', choices=['small', 'sports'])
    syn.add_argument('--seed', type=int, default=0)
    syn.add_argument('--no-images', action='store_true')
    syn.add_argument('--out', required=True, type=Path)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO,
                        format='%(levelname)s %(name)s: %(message)s')
    try:
        {'build': _run_build, 'synthetic': _run_synthetic}[args.command](args)
    except AddrlError as e:
        print(f'error: {e}', file=sys.stderr)
        return 2
    return 0


if __name__ == '__main__':
    sys.exit(main())
