"""The package stays shaped like its data flow and made of small pieces (issue 11): no module
over 400 lines, no function over 80, no class over 150, and no import from a subpackage further
down the data flow (``addrl_graph`` never imports ``data_builders``)."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ('addrl_graph', 'data_builders')
#: ``addrl_graph``'s subpackages in data-flow order; a module may import its own level or
#: earlier ones. The top-level helpers (errors, io, locks, distributed, plotting) come first.
FLOW = ['errors', 'io', 'locks', 'distributed', 'plotting', 'data', 'loader', 'nn', 'metrics',
        'training', 'explain', 'serve', 'testing', 'cli', '__init__', '__main__']
HELPERS = ('errors', 'io', 'locks', 'distributed', 'plotting')
LEVEL = {name: (0 if name in HELPERS else i) for i, name in enumerate(FLOW)}
MAX_MODULE, MAX_FUNCTION, MAX_CLASS = 400, 80, 150


def modules() -> list[Path]:
    return sorted(p for package in PACKAGES for p in (ROOT / package).rglob('*.py'))


def level_of(module: str) -> int | None:
    """Data-flow level of a dotted ``addrl_graph`` module name."""
    parts = module.split('.')
    if parts[0] != 'addrl_graph':
        return None
    return LEVEL[parts[1].removesuffix('.py')] if len(parts) > 1 else LEVEL['__init__']


def imported(tree: ast.AST) -> list[str]:
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
        elif isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
    return names


@pytest.mark.parametrize('path', modules(), ids=lambda p: str(p.relative_to(ROOT)))
def test_module_function_and_class_sizes(path):
    source = path.read_text()
    assert source.count('\n') <= MAX_MODULE, f'{path.name}: {source.count(chr(10))} lines'
    for node in ast.walk(ast.parse(source)):
        span = getattr(node, 'end_lineno', 0) - getattr(node, 'lineno', 0) + 1
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            assert span <= MAX_FUNCTION, f'{path.name}: {node.name}() has {span} lines'
        elif isinstance(node, ast.ClassDef):
            assert span <= MAX_CLASS, f'{path.name}: class {node.name} has {span} lines'


@pytest.mark.parametrize('path', [p for p in modules() if p.relative_to(ROOT).parts[0]
                                  == 'addrl_graph'],
                         ids=lambda p: str(p.relative_to(ROOT)))
def test_imports_follow_the_data_flow(path):
    relative = path.relative_to(ROOT).with_suffix('')
    own = level_of('.'.join(relative.parts))
    for name in imported(ast.parse(path.read_text())):
        assert not name.startswith('data_builders'), f'{relative} imports {name}'
        level = level_of(name)
        assert level is None or level <= own, f'{relative} (level {own}) imports {name} ({level})'
