"""MMRec and RecBole import / export: round trips on the real Beauty half, MMRec's own layout
(its id order, mean-filled images), RecBole item fields, and one-line errors."""
import numpy as np
import pytest
import torch

from addrl_graph.data.schema import INTERACTS, load_graph
from data_builders.__main__ import main
from data_builders.attributes import AttributeConfig
from data_builders.build import BuildConfig, build, read_interactions
from data_builders.clean import drop_duplicate_pairs, k_core
from data_builders.errors import DataBuildError
from data_builders.interop import ExportConfig, ImportConfig, export_graph, import_folder
from data_builders.readers import ReadStats
from data_builders.summary import format_summary
from tests.conftest import SHARED_DATA

BEAUTY = SHARED_DATA / 'amazon-2014-beauty-half-a'
REVIEWS, META = BEAUTY / 'reviews_Beauty_5.json.gz', BEAUTY / 'meta_Beauty.json.gz'
FILLED = 7


@pytest.fixture(scope='module')
def beauty(tmp_path_factory):
    """The Beauty half (5-core, no encoders) with random text and image vectors given through
    a shuffled id mapping, ``FILLED`` image rows mean-filled as MMRec does: ``(graph folder,
    vectors by ASIN, ASINs with a filled image)``."""
    root = tmp_path_factory.mktemp('beauty')
    frame = read_interactions(REVIEWS, '2014', ReadStats(str(REVIEWS)), False)
    items = np.sort(k_core(drop_duplicate_pairs(frame)[0], 5)['item'].unique())
    rng = np.random.default_rng(0)
    shuffled = items[rng.permutation(len(items))]
    text = rng.standard_normal((len(items), 8)).astype(np.float32)
    image = rng.random((len(items), 4)).astype(np.float32)
    filled = rng.choice(len(items), FILLED, replace=False)
    image[filled] = image[np.setdiff1d(np.arange(len(items)), filled)].mean(0)
    np.save(root / 'text_feat.npy', text)
    np.save(root / 'image_feat.npy', image)
    (root / 'i_id_mapping.csv').write_text(
        'asin\titemID\n' + ''.join(f'{a}\t{r}\n' for r, a in enumerate(shuffled)))
    build(BuildConfig(format='2014', reviews=REVIEWS, meta=META, out=root / 'graph',
                      text_encoder='none', image_encoder='none', progress=False,
                      text_features=root / 'text_feat.npy',
                      image_features=root / 'image_feat.npy',
                      feature_ids=root / 'i_id_mapping.csv'))
    vectors = {a: (text[r], image[r]) for r, a in enumerate(shuffled)}
    return root / 'graph', vectors, set(shuffled[filled].tolist())


def test_features_land_on_their_items_through_the_shuffled_mapping(beauty):
    graph, vectors, filled = beauty
    data, meta = load_graph(graph)
    item = data['item']
    assert len(meta['items']) == 4102 and item.x_text.shape == (4102, 8)
    for i, asin in enumerate(meta['items']):
        assert torch.equal(item.x_text[i], torch.from_numpy(vectors[asin][0]))
        assert torch.equal(item.x_image[i], torch.from_numpy(vectors[asin][1]))
        assert bool(item.has_image[i]) == (asin not in filled)
    assert item.has_text.all() and meta['image_encoder']['filled_rows'] == FILLED
    assert f'image: {FILLED} zero or mean-filled rows of image_feat.npy' in format_summary(meta)


def same_graph(a, b, ordered: bool) -> None:
    """Assert two graphs are the same: nodes, features, attributes exactly; edges exactly,
    or (``ordered`` False) exactly once both are put in split order (stable)."""
    (da, ma), (db, mb) = a, b
    for key in ('users', 'items', 'attributes', 'dropped_attributes', 'item_titles'):
        assert ma.get(key) == mb.get(key), key
    for key in ('x_text', 'x_image', 'has_text', 'has_image', 'attr'):
        assert torch.equal(da['item'][key], db['item'][key]), key
        assert da['item'][key].dtype == db['item'][key].dtype
    sa, sb = da[INTERACTS], db[INTERACTS]
    order_a = (torch.arange(sa.split.numel()) if ordered
               else torch.sort(sa.split, stable=True).indices)
    assert torch.equal(sa.edge_index[:, order_a], sb.edge_index)
    assert torch.equal(sa.split[order_a], sb.split)
    assert (ma['text_encoder'], ma['image_encoder']) == (mb['text_encoder'], mb['image_encoder'])


@pytest.mark.parametrize('fmt', ['mmrec', 'recbole'])
def test_beauty_half_export_then_import_is_identical(beauty, tmp_path, fmt):
    graph = beauty[0]
    export_graph(ExportConfig(graph=graph, format=fmt, out=tmp_path / 'beauty'))
    meta = import_folder(fmt, ImportConfig(dir=tmp_path / 'beauty', out=tmp_path / 'back'))
    assert meta['split']['protocol'] == f'imported:{fmt}'
    assert meta['split']['exported'] == {'protocol': 'paper', 'seed': 0}
    same_graph(load_graph(graph), load_graph(tmp_path / 'back'), ordered=fmt == 'mmrec')
    with pytest.raises(DataBuildError, match='already holds an export'):
        export_graph(ExportConfig(graph=graph, format=fmt, out=tmp_path / 'beauty'))


def mmrec_layout(graph, folder):
    """The Beauty graph written as MMRec writes its folders: integer ids in order of first
    appearance in a shuffled ``.inter`` with rating and timestamp columns, features in that
    id order, no attribute file and no sidecar. Returns the graph and its meta."""
    data, meta = load_graph(graph)
    folder.mkdir()
    edges = data[INTERACTS].edge_index.numpy()
    split = data[INTERACTS].split.numpy()
    perm = np.random.default_rng(3).permutation(edges.shape[1])
    users, items = edges[0][perm], edges[1][perm]
    uid = {u: k for k, u in enumerate(dict.fromkeys(users.tolist()))}
    iid = {i: k for k, i in enumerate(dict.fromkeys(items.tolist()))}
    lines = ['userID\titemID\trating\ttimestamp\tx_label']
    lines += [f'{uid[u]}\t{iid[i]}\t5.0\t1390694400\t{s}'
              for u, i, s in zip(users.tolist(), items.tolist(), split[perm].tolist())]
    (folder / f'{folder.name}.inter').write_text('\n'.join(lines) + '\n')
    (folder / 'u_id_mapping.csv').write_text('user_id\tuserID\n' + ''.join(
        f'{meta["users"][u]}\t{k}\n' for u, k in uid.items()))
    (folder / 'i_id_mapping.csv').write_text('asin\titemID\n' + ''.join(
        f'{meta["items"][i]}\t{k}\n' for i, k in iid.items()))
    by_id = np.array(list(iid))                    # our item index of each MMRec itemID
    np.save(folder / 'image_feat.npy', data['item'].x_image.numpy()[by_id].astype(np.float64))
    return data, meta


def test_mmrec_layout_imports_by_id_with_meta_or_popularity(beauty, tmp_path, caplog):
    data, meta = mmrec_layout(beauty[0], tmp_path / 'sports')
    with caplog.at_level('WARNING'):
        plain = import_folder('mmrec', ImportConfig(dir=tmp_path / 'sports', out=tmp_path / 'a'))
    assert 'popularity levels alone' in caplog.text
    assert [a['name'] for a in plain['attributes']] == ['popularity']
    assert plain['image_encoder']['filled_rows'] == FILLED
    imported, _ = load_graph(tmp_path / 'a')
    position = {asin: i for i, asin in enumerate(meta['items'])}
    ours = torch.tensor([position[a] for a in plain['items']])
    assert torch.equal(imported['item'].x_image, data['item'].x_image[ours])
    assert torch.equal(imported['item'].has_image, data['item'].has_image[ours])
    user_pos = {u: i for i, u in enumerate(meta['users'])}
    back = {(plain['users'][u], plain['items'][i], s) for (u, i), s in zip(
        imported[INTERACTS].edge_index.t().tolist(), imported[INTERACTS].split.tolist())}
    assert back == {(meta['users'][u], meta['items'][i], s) for (u, i), s in zip(
        data[INTERACTS].edge_index.t().tolist(), data[INTERACTS].split.tolist())}
    assert len(user_pos) == len(plain['users'])
    with_meta = import_folder('mmrec', ImportConfig(dir=tmp_path / 'sports', out=tmp_path / 'b',
                                                    meta=META, format='2014'))
    codes = load_graph(tmp_path / 'b')[0]['item'].attr
    assert [a['name'] for a in with_meta['attributes']] == [a['name'] for a in meta['attributes']]
    titles = dict(zip(meta['items'], meta['item_titles']))
    assert with_meta['item_titles'] == [titles[a] for a in with_meta['items']]
    assert 'item_titles' not in plain
    for col, (a, b) in enumerate(zip(with_meta['attributes'], meta['attributes'])):
        assert a['values'] == b['values']
        assert torch.equal(codes[:, col], data['item'].attr[ours, col])


def test_recbole_item_fields_become_attributes(tmp_path):
    folder = tmp_path / 'shop'
    folder.mkdir()
    users, items = [f'u{k}' for k in range(6)], [f'i{k}' for k in range(8)]
    for part, offset in (('train', 0), ('valid', 3), ('test', 5)):
        rows = [f'{u}\t{items[(k + offset) % 8]}\t4.0' for k, u in enumerate(users)]
        rows += [f'{u}\t{items[(k + offset + 1) % 8]}\t3.0' for k, u in enumerate(users)
                 if part == 'train']
        (folder / f'shop.{part}.inter').write_text(
            'user_id:token\titem_id:token\trating:float\n' + '\n'.join(rows) + '\n')
    fields = 'item_id:token\ttitle:token\tbrand:token\tprice:float\tcategories:token_seq\n'
    rows = [f'{i}\tTitle {i}\t{"ab"[k % 2]}\t{k + 0.5 if k != 3 else ""}\tBeauty Skin{k % 3}'
            for k, i in enumerate(items)]
    (folder / 'shop.item').write_text(fields + '\n'.join(rows) + '\n')
    meta = import_folder('recbole', ImportConfig(
        dir=folder, out=tmp_path / 'g', attributes=AttributeConfig(price_levels=2)))
    data, _ = load_graph(tmp_path / 'g')
    named = {a['name']: a for a in meta['attributes']}
    assert list(named) == ['brand', 'price', 'categories']          # title is a name
    assert meta['item_titles'] == [f'Title {i}' for i in items]
    assert named['brand']['values'] == ['a', 'b']
    # 7 known prices in 2 equal-frequency levels (ranks 0-3 and 4-6), one missing.
    assert named['price']['values'] == ['0.5-4.5', '5.5-7.5', 'unknown']
    assert named['categories']['values'] == ['Skin0', 'Skin1', 'Skin2']
    assert data['item'].attr[:, 1].tolist() == [0, 0, 0, 2, 0, 1, 1, 1]
    assert np.bincount(data[INTERACTS].split.numpy()).tolist() == [12, 6, 6]
    assert meta['text_encoder']['name'] == 'none'


def test_bad_folders_are_one_line_errors(tmp_path, capsys):
    folder = tmp_path / 'x'
    folder.mkdir()
    (folder / 'x.inter').write_text('userID\titemID\tx_label\n0\t0\t0\n0\t1\t3\n')
    with pytest.raises(DataBuildError, match=r'x.inter:3: x_label must be 0 .* \(got .3.\)'):
        import_folder('mmrec', ImportConfig(dir=folder, out=tmp_path / 'g'))
    (folder / 'x.inter').write_text('user_id:token\titem_id:token\nu\ti\n')
    with pytest.raises(DataBuildError, match='no split of its own.*pass --split'):
        import_folder('recbole', ImportConfig(dir=folder, out=tmp_path / 'g'))
    (folder / 'x.train.inter').write_text('user_id:token\titem_id:token\nu\ti\n')
    with pytest.raises(DataBuildError, match=r'benchmark files need all of .*missing'):
        import_folder('recbole', ImportConfig(dir=folder, out=tmp_path / 'g'))
    assert main(['--quiet', 'import-mmrec', str(tmp_path / 'none'), '--out', 'g']) == 2
    assert main(['--quiet', 'export', '--graph', str(tmp_path), '--format', 'mmrec',
                 '--out', str(tmp_path / 'e')]) == 2
    assert capsys.readouterr().err.count('error:') == 2


def test_cli_round_trip(beauty, tmp_path):
    assert main(['--quiet', 'export', '--graph', str(beauty[0]), '--format', 'recbole',
                 '--out', str(tmp_path / 'rb'), '--name', 'beauty']) == 0
    assert (tmp_path / 'rb' / 'beauty.train.inter').is_file()
    assert main(['--quiet', 'import-recbole', str(tmp_path / 'rb'), '--out',
                 str(tmp_path / 'g')]) == 0
    same_graph(load_graph(beauty[0]), load_graph(tmp_path / 'g'), ordered=False)


@pytest.mark.parametrize('fmt', ['mmrec', 'recbole'])
def test_indices_come_back_through_the_id_mappings(tmp_path, fmt):
    """Ids out of sorted order (U0, U1, ..., U10, U11) keep their indices; without mapping
    files MMRec's integers are the ids, and the features still follow them."""
    from addrl_graph import testing
    from addrl_graph.data.schema import save_graph

    data, meta = testing.tiny_graph()
    assert meta['users'] != sorted(meta['users'])
    meta['dropped_attributes'] = ['category']
    for col, spec in enumerate(meta['attributes']):        # as a build writes them
        spec['item_counts'] = np.bincount(data['item'].attr[:, col].numpy(),
                                          minlength=len(spec['values'])).tolist()
    save_graph(tmp_path / 'g', data, meta)
    export_graph(ExportConfig(graph=tmp_path / 'g', format=fmt, out=tmp_path / 'x'))
    import_folder(fmt, ImportConfig(dir=tmp_path / 'x', out=tmp_path / 'back'))
    same_graph((data, meta), load_graph(tmp_path / 'back'), ordered=fmt == 'mmrec')
    if fmt == 'mmrec':
        for name in ('u_id_mapping.csv', 'i_id_mapping.csv', 'addrl_graph.json'):
            (tmp_path / 'x' / name).unlink()
        bare = import_folder(fmt, ImportConfig(dir=tmp_path / 'x', out=tmp_path / 'bare'))
        ids = [str(i) for i in range(len(meta['items']))]
        assert bare['items'] == ids and bare['users'] == [str(u) for u in range(12)]
        back = load_graph(tmp_path / 'bare')[0]['item']
        assert torch.equal(back.x_text, data['item'].x_text)
        # Without the sidecar the values are fitted afresh: same value on every item.
        for col, (a, b) in enumerate(zip(bare['attributes'], meta['attributes'])):
            assert ([a['values'][c] for c in back.attr[:, col].tolist()]
                    == [b['values'][c] for c in data['item'].attr[:, col].tolist()])
