"""Field coercers shared by the format modules: one raw JSON value in, a typed field out.

Each ``opt_*`` function returns ``None`` or an empty value for an absent field, and for a
present but unusable one also appends an ``invalid_<field>`` key to ``issues`` (the caller
counts it in ``ReadStats.skipped`` and keeps the line). None of them raises.
"""
from __future__ import annotations

import html
import math
import re
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime, timezone
from typing import Any

MAX_RANK = 1_000_000_000        # sales ranks outside [1, MAX_RANK] are absurd ('invalid_rank')
MAX_PRICE = 1_000_000.0         # prices over it (in dollars) are absurd ('invalid_price')
MAX_TIMESTAMP = 4_102_444_800   # 2100-01-01 in seconds; later stamps are 'invalid_timestamp'
RATING_RANGE = (1.0, 5.0)       # star ratings outside it are 'invalid_rating'

Issues = list   # list[str] of 'invalid_*' keys collected while parsing one line


def _number(value: Any) -> float | None:
    """A finite float from a number or numeric string, else None (bools are not numbers)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        try:
            number = float(value)
        except OverflowError:
            return None
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return None
    else:
        return None
    return number if math.isfinite(number) else None


def is_empty(value: Any) -> bool:
    return value is None or (isinstance(value, (str, list, dict)) and not
                             (value.strip() if isinstance(value, str) else value))


def opt_rating(value: Any, issues: Issues) -> float | None:
    """A star rating in :data:`RATING_RANGE`, else None (``invalid_rating`` if present)."""
    if is_empty(value):
        return None
    number = _number(value)
    if number is None or not RATING_RANGE[0] <= number <= RATING_RANGE[1]:
        issues.append('invalid_rating')
        return None
    return number


def opt_timestamp(value: Any, issues: Issues, millis: bool = False) -> int | None:
    """Unix seconds from seconds (or, with ``millis``, milliseconds), else None.

    With ``millis`` a value below 1e11 is taken to be in seconds already (as milliseconds it
    would fall in January 1970). Stamps before 1970 or after 2100 are ``invalid_timestamp``.
    """
    if is_empty(value):
        return None
    number = _number(value)
    if number is not None and millis and number >= 1e11:
        number /= 1000.0
    if number is None or not 0 <= number <= MAX_TIMESTAMP:
        issues.append('invalid_timestamp')
        return None
    return int(number)


def review_time(value: Any, issues: Issues) -> int | None:
    """Unix seconds (UTC midnight) from a 2014/2018 ``reviewTime`` such as ``'02 28, 2014'``."""
    if is_empty(value):
        return None
    try:
        day = datetime.strptime(str(value).strip(), '%m %d, %Y')
    except ValueError:
        issues.append('invalid_timestamp')
        return None
    return int(day.replace(tzinfo=timezone.utc).timestamp())


def review_text(body: Any, summary: Any, issues: Issues) -> str:
    """Review body and summary/title joined by a space; non-strings are ``invalid_text``."""
    parts = []
    for value in (body, summary):
        if value is None:
            continue
        if not isinstance(value, str):
            issues.append('invalid_text')
            continue
        parts.append(value.strip())
    return ' '.join(p for p in parts if p)


# --------------------------------------------------------------------------- price and rank

_AMOUNT = r'(\d{1,3}(?:,\d{3})+|\d+)(\.\d+)?'
_CURRENCY = r'(?:US\s*)?[$€£]?\s*'
_PRICE_RE = re.compile(rf'^{_CURRENCY}{_AMOUNT}$')
_PRICE_RANGE_RE = re.compile(rf'^{_CURRENCY}{_AMOUNT}\s*[-–]\s*{_CURRENCY}{_AMOUNT}$')
_RANK_RE = re.compile(r'(?:^|[#>])\s*(\d{1,3}(?:,\d{3}){1,3}|\d{1,12})\s+in\b')


def _amount(whole: str, frac: str | None) -> float:
    return float(whole.replace(',', '') + (frac or ''))


def price_from_text(text: str) -> float | None:
    """Parse ``'$25.00'``, ``'$1,250.00'`` or ``'25'``; a range ``'$10.99 - $15.99'`` gives its
    mean (13.49). Anything else (HTML, words) gives None."""
    text = html.unescape(text).strip()
    match = _PRICE_RE.match(text)
    if match:
        return _amount(*match.groups())
    match = _PRICE_RANGE_RE.match(text)
    if match:
        low, high = _amount(*match.groups()[:2]), _amount(*match.groups()[2:])
        return (low + high) / 2.0
    return None


def opt_price(value: Any, issues: Issues) -> float | None:
    """A price in ``(0, MAX_PRICE]`` from a number or a price string, else None
    (``invalid_price`` when a non-empty value could not be used). The bound keeps absurd
    values such as ``1e308`` out of the price levels and their names."""
    if is_empty(value):
        return None
    price = price_from_text(value) if isinstance(value, str) else _number(value)
    if price is None or not (math.isfinite(price) and 0 < price <= MAX_PRICE):
        issues.append('invalid_price')
        return None
    return price


def _ranks(value: Any, nested: bool = True) -> Iterator[int | None]:
    """Every rank in ``value``: an int, a rank string, or a list/dict of those. None marks an
    element that held no usable rank."""
    if isinstance(value, bool):
        yield None
    elif isinstance(value, (int, float)):
        number = _number(value)
        yield int(number) if number is not None and number == int(number) else None
    elif isinstance(value, str):
        found = [int(m.group(1).replace(',', '')) for m in _RANK_RE.finditer(value.strip())]
        if not found:
            number = _number(value.replace(',', '').lstrip('#'))
            found = [int(number)] if number is not None and number == int(number) else [None]
        yield from found
    elif isinstance(value, (list, dict)) and nested:
        for element in (value.values() if isinstance(value, dict) else value):
            yield from _ranks(element, nested=False)    # one level: no deep recursion
    else:
        yield None


def opt_rank(value: Any, issues: Issues) -> int | None:
    """The smallest sales rank in ``value`` (``'1,362 in Gift Cards ('``,
    ``['>#2,893,775 in Toys & Games (See Top 100 ...)', '>#19 in Gift Cards > ...']``,
    ``{'Sports': 123}``, ``123``). Ranks outside [1, 1e9] are ``invalid_rank``; the numbers in
    "See Top 100" are not ranks."""
    if is_empty(value):
        return None
    ranks = [r for r in _ranks(value) if r is not None and 1 <= r <= MAX_RANK]
    if not ranks:
        issues.append('invalid_rank')
        return None
    return min(ranks)


# --------------------------------------------------------------------------- text fields

_TAG_RE = re.compile(r'<[^<>]*>')
_OPEN_TAG_RE = re.compile(r'<[a-zA-Z/!][^<>]*$')     # a tag cut off at the end of the value
_ATTR_RE = re.compile(r'[\w-]+\s*=\s*"')              # leftover HTML attribute: markup junk
_SPACE_RE = re.compile(r'\s+')
_SPACE_PUNCT_RE = re.compile(r' ([.,;:!?])(?= |$)')      # 'tea .' left by '<i>tea</i>.'


def clean_text(text: str) -> str:
    """Unescape HTML entities, drop tags (and a cut-off trailing tag), collapse whitespace."""
    tagged = '<' in text
    if tagged:
        text = _OPEN_TAG_RE.sub(' ', _TAG_RE.sub(' ', text))
    if '&' in text:
        text = html.unescape(text)
    text = ' '.join(text.split())
    return _SPACE_PUNCT_RE.sub(r'\1', text) if tagged else text


def opt_text(value: Any, issues: Issues, field: str) -> str:
    """A cleaned one-line string; '' when absent. Non-strings and values that are only markup
    (``'<span class="a-size-medium"'``) count as ``invalid_<field>``."""
    if is_empty(value):
        return ''
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        issues.append(f'invalid_{field}')
        return ''
    text = clean_text(value)
    if not text or _ATTR_RE.search(text):
        issues.append(f'invalid_{field}')
        return ''
    return text


def opt_brand(value: Any, issues: Issues) -> str | None:
    """A cleaned brand name, or None."""
    return opt_text(value, issues, 'brand') or None


def opt_description(value: Any, issues: Issues) -> str:
    """A description string or list of strings, cleaned and joined by spaces."""
    if is_empty(value):
        return ''
    parts = value if isinstance(value, list) else [value]
    if not all(isinstance(p, str) for p in parts):
        issues.append('invalid_description')
        parts = [p for p in parts if isinstance(p, str)]
    return ' '.join(t for t in (clean_text(p) for p in parts) if t)


def _path(value: Any) -> list[str] | None:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        return None
    return [t for t in (clean_text(v) for v in value) if t]


def opt_paths(value: Any, issues: Issues, single: bool = False) -> list[list[str]]:
    """Category paths, root first, each a list of cleaned names; empty paths dropped.

    ``single``: ``value`` is one path (2018, 2023); else a list of paths (2014).
    """
    if is_empty(value):
        return []
    paths = [_path(value)] if single else (
        [_path(v) for v in value] if isinstance(value, list) else [None])
    if any(p is None for p in paths):
        issues.append('invalid_categories')
    return [p for p in paths if p]


def opt_urls(values: Iterable[Any], issues: Issues) -> list[str]:
    """Stripped, de-duplicated URL strings in order; empty ones are skipped, non-strings and
    strings with inner whitespace are ``invalid_images``."""
    urls: list[str] = []
    bad = False
    for value in values:
        url = value.strip() if isinstance(value, str) else value
        if url is None or url == '':
            continue
        if isinstance(url, str) and not _SPACE_RE.search(url):
            if url not in urls:
                urls.append(url)
        else:
            bad = True
    if bad:
        issues.append('invalid_images')
    return urls


def scalar_extras(fields: Mapping, skip: Iterable[str] = ()) -> dict[str, str]:
    """Scalar entries of ``fields`` as cleaned strings, keys without trailing ':'.

    Empty values, markup leftovers, containers and keys in ``skip`` are left out.
    """
    skip = set(skip)
    extra: dict[str, str] = {}
    for key, value in fields.items():
        if key in skip or not isinstance(key, str) or not isinstance(value, (str, int, float)):
            continue
        name = clean_text(key).rstrip(':').strip()
        text = opt_text(value, [], 'extra')
        if name and text:
            extra.setdefault(name, text)
    return extra
