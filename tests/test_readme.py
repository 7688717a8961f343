"""The README's Python example runs as written (on a tiny graph instead of its folder)."""
import re
from pathlib import Path

import pytest

from addrl_graph.testing import save_tiny_graph

README = Path(__file__).resolve().parents[1] / 'README.md'


@pytest.mark.usefixtures('one_thread')
def test_the_python_example_runs(tmp_path, capsys):
    blocks = re.findall(r'```python\n(.*?)```', README.read_text(), flags=re.S)
    example = next(b for b in blocks if 'model(batch, graph)' in b)
    graph = save_tiny_graph(tmp_path / 'graph', num_users=20, num_items=30)
    exec(compile(example.replace("'graphs/beauty'", repr(str(graph))), 'README', 'exec'), {})
    assert "'recall@20'" in capsys.readouterr().out
