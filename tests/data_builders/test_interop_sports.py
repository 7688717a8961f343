"""The real Sports 5-core end to end: built from its ``user_sequence.txt`` with MMRec's split
(MMRec's own counts), exported to MMRec's and RecBole's files and imported back identical."""
import pytest

from addrl_graph.data.schema import load_graph
from data_builders.build import BuildConfig, build
from data_builders.interop import ExportConfig, ImportConfig, export_graph, import_folder
from tests.conftest import SHARED_DATA
from tests.data_builders.test_interop import same_graph

SPORTS = SHARED_DATA / 'amazon-2014-sports-interactions' / 'user_sequence.txt'


@pytest.fixture(scope='module')
def sports_graph(tmp_path_factory):
    out = tmp_path_factory.mktemp('sports') / 'graph'
    meta = build(BuildConfig(format='sequence', reviews=SPORTS, out=out, split='mmrec',
                             text_encoder='none', image_encoder='none', progress=False))
    return out, meta


def test_the_builder_gives_mmrecs_split_of_sports(sports_graph):
    stats = sports_graph[1]['stats']
    assert (stats['users'], stats['items'], stats['interactions']) == (35598, 18357, 296337)
    assert (stats['train'], stats['valid'], stats['test']) == (218409, 37899, 40029)


@pytest.mark.parametrize('fmt', ['mmrec', 'recbole'])
def test_sports_export_then_import_is_identical(sports_graph, tmp_path, fmt):
    graph = sports_graph[0]
    export_graph(ExportConfig(graph=graph, format=fmt, out=tmp_path / 'sports'))
    meta = import_folder(fmt, ImportConfig(dir=tmp_path / 'sports', out=tmp_path / 'back'))
    assert meta['split']['exported'] == {'protocol': 'mmrec', 'seed': 0}
    # RecBole's benchmark files hold the edges split by split: same edges, in split order
    same_graph(load_graph(graph), load_graph(tmp_path / 'back'), ordered=fmt == 'mmrec')
