"""AmazonGraph (data_builders.datasets), PyG's InMemoryDataset over the builder, on the real
Gift Cards 2018 dumps copied into a temporary ``root/raw``: built once per set of options,
reused afterwards, rebuilt on ``force_reload``, and a clear error when the dumps are missing."""
import shutil

import pytest
import torch
from torch_geometric.data import HeteroData

import data_builders.datasets as datasets
from addrl_graph.data.schema import INTERACTS, load_graph
from data_builders.datasets import AmazonGraph
from data_builders.errors import DataBuildError
from tests.conftest import SHARED_DATA

GIFT_CARDS = SHARED_DATA / 'amazon-2018-gift-cards'
FAST = {'text_encoder': 'none', 'image_encoder': 'none', 'progress': False}


@pytest.fixture(scope='module')
def root(tmp_path_factory):
    root = tmp_path_factory.mktemp('amazon')
    (root / 'raw').mkdir()
    for name in ('Gift_Cards_5.json.gz', 'meta_Gift_Cards.json.gz'):
        shutil.copy(GIFT_CARDS / name, root / 'raw' / name)
    return root


@pytest.fixture(scope='module')
def first(root):
    return AmazonGraph(str(root), 'Gift_Cards', '2018', **FAST)


@pytest.fixture
def counted_builds(monkeypatch):
    """The builds run while the test runs (each still really builds)."""
    calls = []

    def counting(config):
        calls.append(config)
        return real(config)
    real = datasets.build
    monkeypatch.setattr(datasets, 'build', counting)
    return calls


def test_the_dataset_is_the_built_graph(root, first):
    data = first[0]
    assert isinstance(data, HeteroData) and len(first) == 1
    assert first.graph_dir == root / 'processed' / first.key and len(first.key) == 12
    stored, meta = load_graph(first.graph_dir)  # an ordinary graph folder
    assert meta == first.meta and meta['build_config']['text_encoder'] == 'none'
    assert data['user'].num_nodes == len(meta['users']) == meta['stats']['users'] > 0
    assert data['item'].num_nodes == len(meta['items']) == meta['stats']['items'] > 0
    assert torch.equal(data[INTERACTS].edge_index, stored[INTERACTS].edge_index)
    assert [a['name'] for a in first.meta['attributes']] == [
        t for t in data.node_types if t not in ('user', 'item')]


def test_a_second_instance_reuses_the_processed_graph(root, first, counted_builds):
    stamp = (first.graph_dir / 'graph.pt').stat().st_mtime_ns
    again = AmazonGraph(str(root), 'Gift_Cards', '2018', **dict(FAST, progress=True))
    assert counted_builds == [] and again.key == first.key  # progress does not key the graph
    assert (first.graph_dir / 'graph.pt').stat().st_mtime_ns == stamp
    assert torch.equal(again[0][INTERACTS].split, first[0][INTERACTS].split)


def test_other_options_make_another_processed_graph(root, first, counted_builds):
    fewer = AmazonGraph(str(root), 'Gift_Cards', '2018', split='mmrec', seed=1,
                        attributes={'names': ['price', 'popularity']}, **FAST)
    assert len(counted_builds) == 1 and fewer.key != first.key
    assert [a['name'] for a in fewer.meta['attributes']] == ['price', 'popularity']
    assert fewer.meta['split'] == {'protocol': 'mmrec', 'seed': 1}
    assert (first.graph_dir / 'graph.pt').is_file()  # the first graph is kept
    AmazonGraph(str(root), 'Gift_Cards', '2018', force_reload=True, **FAST)
    assert len(counted_builds) == 2


def mark_items(data):
    data['item'].popular = data['item'].attr[:, 0] >= 0
    return data


def mark_nothing(data):
    return data


def test_pre_transform_runs_once_and_transform_on_access(root, first, counted_builds):
    seen = []

    def note(data):
        seen.append(data['user'].num_nodes)
        return data
    ds = AmazonGraph(str(root), 'Gift_Cards', '2018', pre_transform=mark_items,
                     transform=note, **FAST)
    assert counted_builds == []  # the graph was built already: only pre_transform ran
    assert (first.graph_dir / ds.pre_transformed_file).is_file()
    assert bool(ds[0]['item'].popular.all()) and seen == [first.meta['stats']['users']]
    ds[0]
    assert len(seen) == 2
    again = AmazonGraph(str(root), 'Gift_Cards', '2018', pre_transform=mark_items, **FAST)
    assert again.pre_transformed_file == ds.pre_transformed_file and counted_builds == []
    other = AmazonGraph(str(root), 'Gift_Cards', '2018', pre_transform=mark_nothing, **FAST)
    assert other.pre_transformed_file != ds.pre_transformed_file
    assert 'popular' not in other[0]['item'] and counted_builds == []


def test_missing_dumps_name_the_files_to_place(tmp_path):
    with pytest.raises(DataBuildError, match=r'does not download: place Gift_Cards_5.json.gz, '
                                             r'meta_Gift_Cards.json.gz in .*raw \(the 2018 '
                                             r'Amazon review data'):
        AmazonGraph(str(tmp_path), 'Gift_Cards', '2018', **FAST)
    with pytest.raises(DataBuildError, match='place reviews_Beauty_5.json.gz in'):
        AmazonGraph(str(tmp_path), 'Beauty', '2014', metadata=False, **FAST)


def test_bad_arguments_are_refused_before_any_file_is_read(tmp_path):
    with pytest.raises(DataBuildError, match=r"takes no build option \['txt_encoder'\]"):
        AmazonGraph(str(tmp_path), 'Gift_Cards', txt_encoder='none')
    with pytest.raises(DataBuildError, match='needs name= .* or reviews= and metadata='):
        AmazonGraph(str(tmp_path))
    with pytest.raises(DataBuildError, match='--seed must be a non-negative integer'):
        AmazonGraph(str(tmp_path), 'Gift_Cards', seed=-1)
