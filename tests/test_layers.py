"""The floors of the house, checked on the source: who may import whom.

Every product module's imports are read with ``ast`` (module-level and function-level
alike: an import hidden in a function is still an arrow) and checked against the rules
of the README's "Layout" section:

 0. ``litwatch.vocab`` imports nothing of the project;
 1. ``litwatch.config`` and ``litwatch.signals`` import only the ground floor;
 2. ``litwatch.db`` imports only the ground floor;
 3. ``litwatch.crawler`` and ``litwatch.digest`` import floors 0-2, never each other;
 4. the scheduler, the CLI, the terminal text and the demo sit on top;
 - nothing imports ``litwatch.cli`` or a ``litwatch.cmd_*`` module except ``litwatch.cli``
   itself (the console entry point is ``litwatch.cli:main``);
 - the fakes (``litwatch.fakes``) are services, not product: they import only vocab;
 - no import cycles between modules;
 - only ``litwatch.db`` runs SQL (spiders, pipelines, the digest, the CLI call named
   functions of ``db/``).

Violations in files other helpers are still changing are listed in ``KNOWN`` with the
reason; the lead shrinks the list as the fixes merge.  A known violation that is gone
fails too (``test_known_list_is_current``), so the list never outlives its reason.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# Checkout folder -> installed package name (pyproject's package-dir mapping).
PACKAGE_DIRS = {"litwatch": "litwatch", "crawler": "litwatch.crawler", "db": "litwatch.db", "digest": "litwatch.digest"}
SINGLE_FILES = {"scheduler.py": "litwatch.scheduler"}
SKIP = {ROOT / "litwatch" / "scheduler.py"}  # the symlink to the top-level scheduler.py

FLOORS = [  # (module prefix, floor); the longest matching prefix wins
    ("litwatch.vocab", 0),
    ("litwatch.config", 1),
    ("litwatch.signals", 1),
    ("litwatch.db", 2),
    ("litwatch.crawler", 3),
    ("litwatch.digest", 3),
    ("litwatch.fakes", 3),
    ("litwatch", 4),
]

# (importer, imported): why it is still there.  Only other areas' files belong here.
KNOWN: dict[tuple[str, str], str] = {}

# Modules outside db/ that still run SQL themselves: module -> why.
KNOWN_SQL: dict[str, str] = {}
SQL_METHODS = {"execute", "executemany", "executescript", "rows_where", "upsert", "upsert_all", "insert_all"}


def module_files() -> dict[str, Path]:
    """Installed module name -> source file, for every product module of the checkout."""
    found = {}
    for folder, package in PACKAGE_DIRS.items():
        for path in sorted((ROOT / folder).rglob("*.py")):
            if path in SKIP or path.is_symlink():
                continue
            parts = list(path.relative_to(ROOT / folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join([package, *parts])] = path
    for name, module in SINGLE_FILES.items():
        found[module] = ROOT / name
    return found


def imports_of(path: Path, modules: set[str]) -> set[str]:
    """The project modules ``path`` imports (``from pkg import submodule`` counts as the submodule)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [f"{node.module}.{alias.name}" if f"{node.module}.{alias.name}" in modules else node.module
                     for alias in node.names]
        else:
            continue
        out.update(name for name in names if name == "litwatch" or name.startswith("litwatch."))
    return out


def import_graph() -> dict[str, set[str]]:
    files = module_files()
    names = set(files)
    return {module: {m for m in imports_of(path, names) if m != module} for module, path in files.items()}


def runs_sql(path: Path) -> list[int]:
    """Line numbers where ``path`` runs SQL: a cursor/connection ``execute*`` or a
    sqlite-utils table (``db["table"]``) or query method."""
    lines = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in SQL_METHODS:
            lines.append(node.lineno)
        elif (isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant) and isinstance(node.slice.value, str)
              and (getattr(node.value, "id", None) == "db" or getattr(node.value, "attr", None) == "db")):
            lines.append(node.lineno)
    return sorted(set(lines))


def floor(module: str) -> int:
    return max(((len(prefix), level) for prefix, level in FLOORS
                if module == prefix or module.startswith(prefix + ".")), default=(0, 4))[1]


def area(module: str) -> str:
    return ".".join(module.split(".")[:2])


def is_cli(module: str) -> bool:
    return module == "litwatch.cli" or module.startswith("litwatch.cmd_")


def rule_violations(graph: dict[str, set[str]]) -> dict[tuple[str, str], str]:
    """(importer, imported) -> the rule it breaks."""
    bad = {}
    for src, targets in graph.items():
        for dst in targets:
            if dst == "litwatch":  # the package itself: only __version__ and a docstring
                continue
            if floor(dst) > floor(src):
                bad[(src, dst)] = f"upward: floor {floor(src)} imports floor {floor(dst)}"
            elif floor(src) == floor(dst) and area(src) != area(dst) and floor(src) in (1, 3):
                bad[(src, dst)] = f"sideways on floor {floor(src)}: {area(src)} imports {area(dst)}"
            elif area(src) == "litwatch.db" and area(dst) not in ("litwatch.db", "litwatch.vocab"):
                bad[(src, dst)] = "the store imports only the ground floor"
            elif is_cli(dst) and src != "litwatch.cli":
                bad[(src, dst)] = "only the console entry (litwatch.cli) imports the CLI"
            elif area(src) == "litwatch.fakes" and area(dst) not in ("litwatch.fakes", "litwatch.vocab"):
                bad[(src, dst)] = "the fakes import only vocab"
    return bad


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index, low, on_stack, stack, out = {}, {}, set(), [], []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph.get(root, ()))))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in graph:
                    continue
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        out.append(sorted(component))
    return out


@pytest.fixture(scope="module")
def graph():
    return import_graph()


def test_every_package_folder_is_seen(graph):
    for module in ("litwatch.vocab.ids", "litwatch.db.connection", "litwatch.crawler.run", "litwatch.digest",
                   "litwatch.scheduler", "litwatch.cli"):
        assert module in graph


def test_floor_rules(graph):
    bad = {edge: why for edge, why in rule_violations(graph).items() if edge not in KNOWN}
    assert not bad, "\n".join(f"{a} -> {b}: {why}" for (a, b), why in sorted(bad.items()))


def test_known_list_is_current(graph):
    current = rule_violations(graph)
    stale = [edge for edge in KNOWN if edge not in current]
    assert not stale, f"fixed, remove from KNOWN: {stale}"


def test_no_import_cycles(graph):
    without_known = {src: {dst for dst in dsts if (src, dst) not in KNOWN} for src, dsts in graph.items()}
    assert cycles(without_known) == []


def test_the_rules_catch_what_they_should():
    bad = rule_violations({
        "litwatch.db.x": {"litwatch.config", "litwatch.crawler.y"},
        "litwatch.crawler.y": {"litwatch.digest.z"},
        "litwatch.scheduler": {"litwatch.cli"},
        "litwatch.vocab.ids": {"litwatch.config"},
        "litwatch.digest.z": {"litwatch.db.x", "litwatch.vocab.ids"},
    })
    assert set(bad) == {("litwatch.db.x", "litwatch.config"), ("litwatch.db.x", "litwatch.crawler.y"),
                        ("litwatch.crawler.y", "litwatch.digest.z"), ("litwatch.scheduler", "litwatch.cli"),
                        ("litwatch.vocab.ids", "litwatch.config")}


def test_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_only_the_store_runs_sql():
    found = {module: runs_sql(path) for module, path in module_files().items()
             if area(module) not in ("litwatch.db", "litwatch.fakes") and module not in KNOWN_SQL}
    assert {module: lines for module, lines in found.items() if lines} == {}


def test_known_sql_list_is_current():
    files = module_files()
    assert [m for m in KNOWN_SQL if not runs_sql(files[m])] == []


def test_scheduler_does_not_import_the_cli(graph):
    assert not any(is_cli(m) for m in graph["litwatch.scheduler"])


if __name__ == "__main__":  # print the graph: python tests/test_layers.py
    g = import_graph()
    for src in sorted(g):
        print(f"{src} [{floor(src)}] -> {', '.join(sorted(g[src])) or '-'}")
    print("\nviolations:")
    for (a, b), why in sorted(rule_violations(g).items()):
        print(f"  {a} -> {b}: {why}")
    print("\ncycles:", cycles(g))
