"""The builder keeps titles and image URLs beside the id maps (real Gift Cards 2018 pair)."""
import gzip
import html
import json

from addrl_graph import load_graph
from addrl_graph.data.catalog import ItemCatalog
from data_builders.build import BuildConfig, build
from data_builders.catalog import MAX_TITLE, image_url, item_catalog
from data_builders.readers.records import ItemMeta
from tests.conftest import SHARED_DATA

GIFT = SHARED_DATA / 'amazon-2018-gift-cards'


def test_catalog_lists_from_item_metadata():
    metas = [ItemMeta('A', title='Gift card', image_urls=['javascript:alert(1)',
                                                          'https://img.example/a.jpg']),
             None,
             ItemMeta('C', title='', image_urls=['file:///etc/passwd', '//no-scheme.jpg']),
             ItemMeta('D', title='x' * 1000, image_urls=['http://[broken/']),
             ItemMeta('E', title='Card', image_urls=['HTTP://IMG.EXAMPLE/E.JPG'])]
    lists = item_catalog(metas)
    assert lists['item_titles'][:3] == ['Gift card', None, None]
    assert len(lists['item_titles'][3]) == MAX_TITLE and lists['item_titles'][3].endswith('…')
    assert lists['item_image_urls'] == ['https://img.example/a.jpg', None, None, None,
                                        'HTTP://IMG.EXAMPLE/E.JPG']
    assert image_url(None) is None


def _dump_titles_and_images():
    """First metadata line of each asin in the raw dump: (title, image list)."""
    first = {}
    with gzip.open(GIFT / 'meta_Gift_Cards.json.gz', 'rt') as f:
        for line in f:
            obj = json.loads(line)
            first.setdefault(obj['asin'], (obj.get('title'), obj.get('image') or []))
    return first


def test_gift_cards_graph_has_titles_and_images(tmp_path):
    build(BuildConfig(format='2018', reviews=GIFT / 'Gift_Cards_5.json.gz',
                      meta=GIFT / 'meta_Gift_Cards.json.gz', out=tmp_path,
                      text_encoder='none', image_encoder='none', progress=False))
    _, meta = load_graph(tmp_path)
    catalog = ItemCatalog.from_meta(meta)
    dump = _dump_titles_and_images()
    assert len(meta['item_titles']) == len(meta['item_image_urls']) == len(meta['items']) == 147
    titled = [i for i, asin in enumerate(meta['items']) if dump[asin][0]]
    assert len(titled) == 147 and catalog.has_titles
    for i, asin in enumerate(meta['items']):
        title, images = dump[asin]
        assert catalog.title(i) == ' '.join(html.unescape(title).split()), asin   # '&amp;'
        assert catalog.image_url(asin) == (images[0] if images else None), asin
        assert catalog.label(i) == catalog.title(i)
    # 115 of the 147 items have an image URL in this dump; the others have none
    assert sum(u is not None for u in meta['item_image_urls']) == 115
