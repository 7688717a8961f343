"""The shape of a synthetic dump (:class:`SyntheticConfig`) and its presets."""
from __future__ import annotations

from dataclasses import dataclass

from data_builders.errors import DataBuildError
from data_builders.synthetic.render import CATEGORIES


@dataclass(frozen=True)
class SyntheticConfig:
    """Shape of a synthetic dump; the totals are met exactly (distinct user–item pairs).

    Args:
        num_users / num_items / num_interactions: exact totals after de-duplication.
        num_brands / num_categories: distinct brand and leaf-category strings in the metadata
            (categories at most ``len(CATEGORIES)`` = 24).
        min_interactions: least interactions of every user and every item (5-core safe).
        image_size: side of the square PNG per item, in pixels.
        preference_strength: share of a user's interactions planted on its preferred value.
        seed: default seed of :func:`generate`.
        item_zipf / user_zipf: exponent of the rank curve of item / user degrees (floored at
            ``min_interactions``; larger is more skewed).
        max_user_degree: cap on a user's interactions.
        brand_zipf: exponent of the rank curve of brand sizes (each brand has >= 3 items).
        category_zipf: exponent of the category weights.
        price_brand_correlation: 0 = price independent of brand, 1 = set by brand alone.
        missing_meta / missing_brand / missing_price / missing_image: share of items with no
            metadata line / no brand / no price / no image (and no ``imUrl``).
        duplicate_share: extra review lines repeating a pair, as a share of interactions.
        image_workers: processes drawing images (None: up to 4, by CPU count).
    """
    num_users: int
    num_items: int
    num_interactions: int
    num_brands: int
    num_categories: int
    min_interactions: int = 5
    image_size: int = 32
    preference_strength: float = 0.7
    seed: int = 0
    item_zipf: float = 0.4
    user_zipf: float = 0.5
    max_user_degree: int = 250
    brand_zipf: float = 0.6
    category_zipf: float = 0.5
    price_brand_correlation: float = 0.5
    missing_meta: float = 0.01
    missing_brand: float = 0.10
    missing_price: float = 0.10
    missing_image: float = 0.05
    duplicate_share: float = 0.005
    image_workers: int | None = None

    def validate(self) -> None:
        """Raise :class:`DataBuildError` naming the first field that cannot work."""
        if self.seed < 0:
            raise DataBuildError(f'seed must be a non-negative integer (got {self.seed})')
        k = self.min_interactions
        if k < 1:
            raise DataBuildError(f'min_interactions must be >= 1 (got {k})')
        if self.num_interactions < k * max(self.num_users, self.num_items):
            raise DataBuildError(
                f'num_interactions must be >= min_interactions * max(users, items) = '
                f'{k * max(self.num_users, self.num_items)} (got {self.num_interactions})')
        cap = min(self.max_user_degree, self.num_items // 2)
        if self.num_interactions > self.num_users * cap:
            raise DataBuildError(f'num_interactions exceeds num_users * min(max_user_degree, '
                                 f'num_items // 2) = {self.num_users * cap} '
                                 f'(got {self.num_interactions})')
        if not 1 <= self.num_categories <= len(CATEGORIES):
            raise DataBuildError(f'num_categories must be in 1..{len(CATEGORIES)} '
                                 f'(got {self.num_categories})')
        if not self.num_categories <= self.num_brands <= self._branded_items() // 3:
            raise DataBuildError(
                f'num_brands must be in num_categories..{self._branded_items() // 3} '
                f'(each brand needs >= 3 items; got {self.num_brands})')
        if not 0.0 <= self.preference_strength <= 1.0:
            raise DataBuildError(f'preference_strength must be in [0, 1] '
                                 f'(got {self.preference_strength})')
        if self.image_size < 8:
            raise DataBuildError(f'image_size must be >= 8 (got {self.image_size})')
        for name in ('missing_meta', 'missing_brand', 'missing_price', 'missing_image',
                     'duplicate_share', 'price_brand_correlation'):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise DataBuildError(f'{name} must be in [0, 1) (got {getattr(self, name)})')

    def _branded_items(self) -> int:
        meta = self.num_items - round(self.missing_meta * self.num_items)
        return meta - round(self.missing_brand * meta)


PRESETS: dict[str, SyntheticConfig] = {
    'small': SyntheticConfig(num_users=600, num_items=500, num_interactions=6000,
                             num_brands=40, num_categories=6, item_zipf=0.5,
                             max_user_degree=40),
    # The paper's Sports & Outdoors (Table 1).
    'sports': SyntheticConfig(num_users=21_400, num_items=36_224, num_interactions=209_944,
                              num_brands=2_081, num_categories=18),
}
