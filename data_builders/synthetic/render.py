"""How synthetic items look: vocabulary, titles, descriptions, review texts and images.

Everything here turns an item's attribute values into text and pixels that carry them, so that
real text and image encoders pick the planted signal up. It is the rendering half of
:mod:`data_builders.synthetic`, whose other modules decide the values and the interactions.
"""
from __future__ import annotations

import io
import math
import os
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

# (leaf category, parent, product nouns, context words)
CATEGORIES = (
    ('Fishing', 'Hunting & Fishing', ('fishing reel', 'spinning rod', 'tackle box', 'lure kit'),
     ('lake', 'bass', 'bait', 'casting')),
    ('Camping & Hiking', 'Outdoor Recreation', ('camping tent', 'sleeping bag',
                                                'hiking backpack', 'trekking poles'),
     ('trail', 'campsite', 'hiking', 'backcountry')),
    ('Cycling', 'Outdoor Recreation', ('bike light', 'cycling helmet', 'bike pump',
                                       'saddle bag'), ('ride', 'commute', 'road', 'miles')),
    ('Strength Training', 'Exercise & Fitness', ('dumbbell set', 'kettlebell', 'weight bench',
                                                 'resistance bands'),
     ('reps', 'lifting', 'gym', 'muscle')),
    ('Yoga', 'Exercise & Fitness', ('yoga mat', 'yoga block', 'yoga strap',
                                    'meditation cushion'), ('poses', 'stretching', 'studio',
                                                            'balance')),
    ('Golf', 'Golf Equipment', ('golf balls', 'golf glove', 'tee set', 'putting mat'),
     ('course', 'swing', 'green', 'fairway')),
    ('Running', 'Exercise & Fitness', ('running belt', 'armband', 'running socks',
                                       'hydration vest'), ('marathon', 'pace', 'jogging', '5k')),
    ('Tennis', 'Racquet Sports', ('tennis racket', 'tennis balls', 'racket grip',
                                  'string set'), ('court', 'serve', 'match', 'rally')),
    ('Basketball', 'Team Sports', ('basketball', 'hoop net', 'ball pump', 'shooting sleeve'),
     ('hoops', 'dribbling', 'layup', 'pickup games')),
    ('Soccer', 'Team Sports', ('soccer ball', 'shin guards', 'goalkeeper gloves',
                               'training cones'), ('pitch', 'goal', 'league', 'practice')),
    ('Swimming', 'Water Sports', ('swim goggles', 'swim cap', 'kickboard', 'nose clip'),
     ('pool', 'laps', 'freestyle', 'swim team')),
    ('Hunting', 'Hunting & Fishing', ('hunting knife', 'game camera', 'camo jacket',
                                      'deer call'), ('deer', 'season', 'woods', 'tree stand')),
    ('Kayaking', 'Boating & Water Sports', ('kayak paddle', 'dry bag', 'life vest',
                                            'spray skirt'), ('river', 'paddling', 'rapids',
                                                             'lake trips')),
    ('Skateboarding', 'Skates, Skateboards & Scooters', ('skateboard deck', 'skate wheels',
                                                         'grip tape', 'skate helmet'),
     ('skatepark', 'kickflip', 'cruising', 'ramps')),
    ('Skiing', 'Winter Sports', ('ski goggles', 'ski gloves', 'snow helmet', 'hand warmers'),
     ('slopes', 'powder', 'lift', 'snow')),
    ('Boxing', 'Martial Arts', ('boxing gloves', 'hand wraps', 'heavy bag', 'mouth guard'),
     ('sparring', 'punches', 'ring', 'training camp')),
    ('Archery', 'Hunting & Fishing', ('arrow set', 'bow sight', 'arm guard', 'archery target'),
     ('range', 'draw weight', 'bullseye', 'target practice')),
    ('Climbing', 'Outdoor Recreation', ('climbing harness', 'carabiner set', 'chalk bag',
                                        'belay device'), ('crag', 'bouldering', 'rope',
                                                          'climbing gym')),
    ('Baseball', 'Team Sports', ('baseball glove', 'batting gloves', 'baseball bat',
                                 'pitching net'), ('diamond', 'batting', 'little league',
                                                   'innings')),
    ('Airsoft', 'Airsoft & Paintball', ('airsoft goggles', 'paintball mask', 'bb pellets',
                                        'tactical vest'), ('field', 'skirmish', 'team games',
                                                           'targets')),
    ('Equestrian', 'Equestrian Sports', ('riding gloves', 'saddle pad', 'grooming kit',
                                         'riding helmet'), ('horse', 'stable', 'trail rides',
                                                            'arena')),
    ('Fan Shop', 'Fan Shop', ('team jersey', 'fan cap', 'stadium blanket', 'team flag'),
     ('game day', 'season tickets', 'tailgate', 'playoffs')),
    ('Table Tennis', 'Leisure Sports & Game Room', ('ping pong paddle', 'table tennis balls',
                                                    'net set', 'paddle case'),
     ('spin', 'basement table', 'rallies', 'doubles')),
    ('Hydration', 'Accessories', ('water bottle', 'hydration pack', 'insulated flask',
                                  'electrolyte tabs'), ('hot days', 'refills', 'gym bag',
                                                        'long hikes')),
)
CATEGORY_COLOURS = (
    (31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189),
    (140, 86, 75), (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207),
    (0, 0, 128), (128, 0, 0), (0, 128, 128), (240, 230, 140), (255, 215, 0), (70, 130, 180),
    (154, 205, 50), (255, 99, 71), (106, 90, 205), (0, 100, 0), (210, 105, 30),
    (176, 224, 230), (255, 20, 147), (60, 60, 60))
SHAPES = ('circle', 'square', 'triangle', 'diamond', 'cross', 'star', 'hexagon', 'ring')
SHAPE_COLOURS = ((255, 255, 255), (0, 0, 0), (255, 230, 0), (220, 20, 60), (0, 70, 200),
                 (0, 160, 80), (255, 140, 0), (120, 0, 160))

PRICE_WORDS = (('cheap', 'a real bargain', 'budget friendly', 'dirt cheap', 'inexpensive'),
               ('affordable', 'good value', 'reasonably priced', 'low priced'),
               ('fairly priced', 'mid-range', 'worth the money', 'moderately priced'),
               ('pricey', 'a bit expensive', 'high-end', 'costly'),
               ('premium', 'luxury', 'expensive', 'top of the line', 'a luxury buy'))
PRICE_ADJECTIVES = (('Basic', 'Economy', 'Value'), ('Everyday', 'Classic', 'Standard'),
                    ('Sport', 'Performance', 'Select'), ('Advanced', 'Pro', 'Tour'),
                    ('Premium', 'Elite', 'Luxury'))
PRICE_SENTENCES = ('A cheap, budget friendly pick.', 'Affordable and a good value.',
                   'Fairly priced mid-range quality.', 'A pricey, high-end build.',
                   'Premium luxury materials, top of the line.')
POPULARITY_WORDS = (('a hidden gem', 'underrated', 'hard to find', 'a rare find'),
                    ('a lesser-known pick', 'a niche pick', 'a quiet favourite'),
                    ('a solid pick', 'a decent choice', 'fairly common'),
                    ('popular', 'a common sight', 'well liked'),
                    ('everyone has one', 'a best seller', 'super popular', 'a crowd favourite'))
POPULARITY_SENTENCES = ('A hidden gem for those in the know.', 'A niche favourite.', '',
                        'A popular choice.', 'Our best seller: everyone has one.')
ADJECTIVES = ('Lightweight', 'Durable', 'Adjustable', 'Compact', 'Portable', 'Heavy Duty',
              'Waterproof', 'Breathable', 'Ergonomic', 'All-Weather')
TITLE_EXTRAS = ('', '', '', ', 2-Pack', ' - Black', ' (Large)', ', Blue', ' Set', ' with Case',
                ' - Medium')
NOISE = ('Arrived on time.', 'Packaging was fine.', 'Would buy again.', 'Does what it says.',
         'Shipping took a while.', 'Quality seems decent.', 'My son uses it every weekend.',
         'Bought it as a gift.', 'Easy to set up.', 'Instructions were clear enough.',
         'Color is as pictured.', 'No complaints so far.', 'Sturdier than I expected.',
         'Had to return the first one.', 'Fits well.', 'Using it for a month now.',
         'My wife likes it too.', 'Nothing special but it works.', 'Took it on vacation.',
         'Smaller than I thought.')
LOW_RATING = ('Broke after a few uses.', 'Not happy with it.', 'Cheaply made.',
              'Would not recommend.')
SUMMARIES = ('Great {noun}', 'Works as expected', 'Five Stars', 'Good value', 'Love it',
             'Solid {noun}', 'Does the job', 'Four Stars', 'Nice {noun}', 'Happy with it')
LOW_SUMMARIES = ('Disappointed', 'Not worth it', 'Two Stars', 'Broke quickly')
FIRST_NAMES = ('John', 'Mary', 'Mike', 'Linda', 'David', 'Susan', 'Chris', 'Karen', 'Brian',
               'Lisa', 'Kevin', 'Amy', 'Jason', 'Laura', 'Steve', 'Emily', 'Mark', 'Rachel',
               'Tom', 'Jen', 'Dan', 'Kate', 'Paul', 'Anna')
LAST_NAMES = ('Smith', 'Johnson', 'Brown', 'Miller', 'Davis', 'Wilson', 'Moore', 'Taylor',
              'Clark', 'Lewis', 'Walker', 'Hall', 'Young', 'King', 'Wright', 'Green')
_SYLLABLES = ('ka', 'zan', 'tri', 'vel', 'or', 'mo', 'rex', 'lu', 'na', 'dor', 'pex', 'quin',
              'sa', 'tor', 'vi', 'ga', 'bel', 'co', 'ren', 'xo', 'fi', 'lar', 'mon', 'stra',
              'ul', 'to', 'per', 'ix', 'an', 'ze')
_BRAND_SUFFIXES = ('Sports', 'Outdoors', 'Gear', 'Athletics', 'Outfitters', 'Fitness')


@dataclass
class ItemLook:
    """The attribute values an item shows in its text and image (all arrays ``[I]``).

    ``price_band`` is the band used for words and drawing: the item's real band, or a drawn
    one for items whose metadata has no price (reviewers still see a price level).
    """
    category: np.ndarray          # index into CATEGORIES
    brand: np.ndarray             # index into brand_names, -1 for no brand
    price_band: np.ndarray        # 0..4
    popularity_band: np.ndarray   # 0..4
    brand_names: list[str]

    def brand_of(self, j: int) -> str | None:
        return self.brand_names[self.brand[j]] if self.brand[j] >= 0 else None


def brand_names(rng: np.random.Generator, n: int) -> list[str]:
    """``n`` distinct pronounceable brand names (a quarter with a word like ``Outdoors``)."""
    names: list[str] = []
    seen: set[str] = set()
    while len(names) < n:
        parts = rng.integers(0, len(_SYLLABLES), size=rng.integers(2, 4))
        name = ''.join(_SYLLABLES[p] for p in parts).capitalize()
        if rng.random() < 0.25:
            name += ' ' + _BRAND_SUFFIXES[rng.integers(len(_BRAND_SUFFIXES))]
        if name.lower() not in seen:
            seen.add(name.lower())
            names.append(name)
    return names


def reviewer_names(rng: np.random.Generator, n: int) -> list[str]:
    """``n`` reviewer display names in the styles of the dumps (``Mary Smith``, ``Mary``,
    ``Mary S.``, ``mary42``)."""
    first = rng.integers(0, len(FIRST_NAMES), size=n)
    last = rng.integers(0, len(LAST_NAMES), size=n)
    style = rng.integers(0, 4, size=n)
    return [(f'{FIRST_NAMES[f]} {LAST_NAMES[s]}', FIRST_NAMES[f], f'{FIRST_NAMES[f]} '
             f'{LAST_NAMES[s][0]}.', f'{FIRST_NAMES[f].lower()}{k % 100}')[t]
            for k, (f, s, t) in enumerate(zip(first, last, style))]


def _sentence_case(s: str) -> str:
    return s[:1].upper() + s[1:]


def item_texts(look: ItemLook,
               rng: np.random.Generator) -> tuple[list[str], list[str], list[str]]:
    """Per item: title (``<Brand> <adjective> <Noun><extra>``), description ('' for ~10%)
    and the main product noun."""
    n = len(look.category)
    noun_pick = rng.integers(0, 4, size=n)
    adj_kind = rng.random(n)
    adj_pick = rng.integers(0, 30, size=n)
    extra_pick = rng.integers(0, len(TITLE_EXTRAS), size=n)
    noise_pick = rng.integers(0, len(NOISE), size=(n, 2))
    no_desc = rng.random(n) < 0.1
    titles, descriptions, nouns = [], [], []
    for j in range(n):
        leaf, _, item_nouns, words = CATEGORIES[look.category[j]]
        noun = item_nouns[noun_pick[j]]
        band = look.price_band[j]
        adjs = PRICE_ADJECTIVES[band] if adj_kind[j] < 0.5 else ADJECTIVES
        brand = look.brand_of(j) + ' ' if look.brand[j] >= 0 else ''
        titles.append(f'{brand}{adjs[adj_pick[j] % len(adjs)]} {noun.title()}'
                      f'{TITLE_EXTRAS[extra_pick[j]]}')
        nouns.append(noun)
        if no_desc[j]:
            descriptions.append('')
            continue
        parts = [f'{_sentence_case(brand)}{noun} for {leaf.lower()} and '
                 f'{words[noise_pick[j, 0] % 4]}.', PRICE_SENTENCES[band],
                 POPULARITY_SENTENCES[look.popularity_band[j]], NOISE[noise_pick[j, 1]]]
        descriptions.append(' '.join(p for p in parts if p))
    return titles, descriptions, nouns


def review_texts(look: ItemLook, nouns: list[str], item_of: np.ndarray, rating: np.ndarray,
                 rng: np.random.Generator) -> tuple[list[str], list[str]]:
    """Body and summary of each review of item ``item_of[j]`` with rating ``rating[j]``:
    category (80% of reviews), brand (55%), price (60%) and popularity (50%) phrases mixed
    with one to three noise sentences."""
    n = len(item_of)
    mention = rng.random((n, 4)) < np.array([0.55, 0.8, 0.6, 0.5])
    pick = rng.integers(0, 60, size=(n, 6))
    num_noise = rng.integers(1, 4, size=n)
    texts, summaries = [], []
    for j in range(n):
        it = item_of[j]
        leaf, _, _, words = CATEGORIES[look.category[it]]
        noun = nouns[it]
        p = pick[j]
        parts = [NOISE[p[0] % len(NOISE)]]
        if mention[j, 1]:
            parts.append((f'Bought this {noun} for {words[p[1] % 4]}.',
                          f'Great for {leaf.lower()}, especially {words[p[1] % 4]}.',
                          f'My go-to {noun} for {leaf.lower()}.')[p[1] % 3])
        if mention[j, 0] and look.brand[it] >= 0:
            brand = look.brand_of(it)
            parts.append((f'{brand} makes a good {noun}.', f'Another {brand} product for me.',
                          f'I trust {brand} for {leaf.lower()} gear.')[p[2] % 3])
        if mention[j, 2]:
            words_ = PRICE_WORDS[look.price_band[it]]
            parts.append(f'Price-wise it is {words_[p[3] % len(words_)]}.')
        if mention[j, 3]:
            words_ = POPULARITY_WORDS[look.popularity_band[it]]
            parts.append(f'Seems like {words_[p[4] % len(words_)]}.')
        if rating[j] <= 2:
            parts.append(LOW_RATING[p[5] % len(LOW_RATING)])
        for k in range(1, num_noise[j]):
            parts.append(NOISE[(p[0] + 7 * k) % len(NOISE)])
        texts.append(' '.join(parts))
        pool = LOW_SUMMARIES if rating[j] <= 2 else SUMMARIES
        summaries.append(pool[p[5] % len(pool)].format(noun=noun))
    return texts, summaries


# ------------------------------------------------------------------------------ images

def image_specs(look: ItemLook, size: int, rng: np.random.Generator) -> list[tuple]:
    """Drawing parameters per item: background colour (category), shape and shape colour
    (CRC32 of the brand name, stable across processes), half-size and fill pattern (price
    band: outline, outline + dot, stripes, solid, solid with a hole), centre jitter."""
    n = len(look.category)
    jitter = rng.integers(-2, 3, size=(n, 2))
    specs = []
    for j in range(n):
        h = zlib.crc32((look.brand_of(j) or '').encode())
        bg = CATEGORY_COLOURS[look.category[j]]
        fg = SHAPE_COLOURS[(h >> 8) % len(SHAPE_COLOURS)]
        if sum(abs(a - b) for a, b in zip(fg, bg)) < 150:
            fg = tuple(255 - x for x in bg)
        specs.append((bg, SHAPES[h % len(SHAPES)], fg, int(look.price_band[j]),
                      int(jitter[j, 0]), int(jitter[j, 1]), size))
    return specs


def draw_image(spec: tuple) -> bytes:
    """PNG bytes of one item image drawn from an :func:`image_specs` entry."""
    from PIL import Image, ImageDraw

    bg, shape, fg, band, jx, jy, size = spec
    s = size / 32
    image = Image.new('RGB', (size, size), bg)
    draw = ImageDraw.Draw(image)
    r = (5 + 2 * band) * s
    cx, cy = size / 2 + jx * s, size / 2 + jy * s
    r = min(r, cx - 1, cy - 1, size - 2 - cx, size - 2 - cy)
    box = (cx - r, cy - r, cx + r, cy + r)
    solid = band >= 2
    fill, width = (fg if solid else None), max(1, round(2 * s))
    if shape == 'circle':
        draw.ellipse(box, fill=fill, outline=fg, width=width)
    elif shape == 'square':
        draw.rectangle(box, fill=fill, outline=fg, width=width)
    elif shape == 'ring':
        draw.ellipse(box, outline=fg, width=max(width, round(r / 2)))
    elif shape == 'cross':
        w = r / 3
        draw.rectangle((cx - w, cy - r, cx + w, cy + r), fill=fg)
        draw.rectangle((cx - r, cy - w, cx + r, cy + w), fill=fg)
    else:
        if shape == 'triangle':
            pts = [(cx, cy - r), (cx + r, cy + r), (cx - r, cy + r)]
        elif shape == 'diamond':
            pts = [(cx, cy - r), (cx + r, cy), (cx, cy + r), (cx - r, cy)]
        elif shape == 'hexagon':
            pts = [(cx + r * math.cos(a), cy + r * math.sin(a))
                   for a in np.linspace(0, 2 * math.pi, 7)[:-1]]
        else:   # star
            pts = [(cx + (r if k % 2 == 0 else r / 2.5) * math.sin(k * math.pi / 5),
                    cy - (r if k % 2 == 0 else r / 2.5) * math.cos(k * math.pi / 5))
                   for k in range(10)]
        draw.polygon(pts, fill=fill, outline=fg, width=width)
    if band == 1:                       # outline with a centre dot
        d = max(1.0, r / 4)
        draw.ellipse((cx - d, cy - d, cx + d, cy + d), fill=fg)
    elif band == 2:                     # striped fill
        for y in range(int(cy - r), int(cy + r) + 1, max(2, round(3 * s))):
            draw.line((cx - r, y, cx + r, y), fill=bg, width=1)
    elif band == 4:                     # solid with a hole
        draw.ellipse((cx - r / 3, cy - r / 3, cx + r / 3, cy + r / 3), fill=bg)
    out = io.BytesIO()
    image.save(out, format='PNG', compress_level=6)
    return out.getvalue()


def _write_images(jobs: list[tuple[str, tuple]]) -> int:
    for path, spec in jobs:
        Path(path).write_bytes(draw_image(spec))
    return len(jobs)


def render_images(folder: Path, asins: np.ndarray, specs: list[tuple], which: np.ndarray,
                  workers: int | None = None, progress: bool = True) -> int:
    """Write ``<asin>.png`` for the items in ``which`` (bool ``[I]``); returns the count.

    More than 2,000 images are drawn by ``workers`` processes (default: up to 4), forked on
    Linux so that workers do not re-import the caller's heavy modules.
    """
    import multiprocessing
    import sys

    from tqdm.auto import tqdm

    folder.mkdir(parents=True, exist_ok=True)
    jobs = [(str(folder / f'{asins[j]}.png'), specs[j]) for j in np.flatnonzero(which)]
    workers = workers or min(4, os.cpu_count() or 1)
    chunks = [jobs[k:k + 500] for k in range(0, len(jobs), 500)]
    with tqdm(total=len(jobs), desc='images', unit='img', disable=not progress) as bar:
        if workers <= 1 or len(jobs) <= 2000:
            for chunk in chunks:
                bar.update(_write_images(chunk))
        else:
            from concurrent.futures import ProcessPoolExecutor

            context = multiprocessing.get_context('fork' if sys.platform == 'linux' else None)
            with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
                for done in pool.map(_write_images, chunks):
                    bar.update(done)
    return len(jobs)
