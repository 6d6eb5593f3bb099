"""The shape of the package: no import cycles between its modules, no module of
more than about 600 lines.

Every ``import`` and ``from ... import`` of a churnml module counts, the ones
inside functions included (a late import hides a cycle from the interpreter, not
from a reader).
"""

from __future__ import annotations

import ast
import graphlib
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"


def import_graph(src: Path = SRC) -> dict[str, set[str]]:
    """Module -> the churnml modules it imports (absolute imports; packages as ``__init__``)."""
    modules = {}
    for path in src.rglob("*.py"):
        parts = path.relative_to(src).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        modules[name] = path
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            else:
                continue
            graph[name].update(t for t in targets if t in modules and t != name)
    return graph


def cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle of ``graph`` (first module repeated at the end), or None."""
    try:
        graphlib.TopologicalSorter(graph).prepare()
    except graphlib.CycleError as err:
        return list(err.args[1])
    return None


def test_the_package_has_no_import_cycle() -> None:
    graph = import_graph()
    assert len(graph) > 50 and sum(map(len, graph.values())) > 100  # the graph was read
    assert cycle(graph) is None


def test_a_cycle_would_be_found(tmp_path: Path) -> None:
    package = tmp_path / "churnml"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("def f():\n    from churnml.b import g\n")
    (package / "b.py").write_text("from churnml import a\n")
    found = cycle(import_graph(tmp_path))
    assert found is not None and set(found) == {"churnml.a", "churnml.b"}


#: A module longer than this does more than one job: split it by what its parts do.
MAX_MODULE_LINES = 620


def test_no_module_is_longer_than_a_reader_can_hold() -> None:
    lengths = {str(p.relative_to(SRC)): len(p.read_text().splitlines()) for p in SRC.rglob("*.py")}
    assert len(lengths) > 50
    assert {m: n for m, n in lengths.items() if n > MAX_MODULE_LINES} == {}
