"""The layer contract of ``src/radgrok``, checked on the import graph (every import statement, at any
depth: module level, inside functions, relative ones), so that a wrong import fails ``make test``
naming itself, not a review months later.

    cli -> experiments -> report | integrations -> training -> diagnostics | tasks | forecast
        -> penalty | methods | models | runs -> radgrok (the package root, a lazy facade)

A module may import its own package and any package of a lower layer. Packages of one layer are
independent of each other (no sideways imports: diagnostics and tasks, report and integrations,
...), and tasks and models never import each other although they sit on different layers (a task
is data, a model is a module: neither needs the other). The module graph has no cycle.

``integrations`` (adapters for other people's trainers) is not in the issue's contract: it reads
training-level concepts (the penalty, the methods, Grokfast's filters) and nothing in radgrok
imports it, so it sits beside report, above training. ``runs`` (the config schema, run records and
their statuses, the recorder, the grok step and its phrase) is at the bottom: everything that writes
or reads a run uses it, and it uses nothing of radgrok's but the package root.

``python tests/test_layers.py`` prints the same findings (or a one-line summary when clean).
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
ROOT = "radgrok"

# top to bottom; "" is the package root (radgrok/__init__.py), which imports nothing statically
LAYERS: list[tuple[str, ...]] = [
    ("cli", "__main__"),
    ("experiments",),
    ("report", "integrations"),
    ("training",),
    ("diagnostics", "tasks", "forecast"),
    ("penalty", "methods", "models", "runs"),
    ("",),
]
# imports forbidden although the layers alone would allow them: (importer, imported)
FORBIDDEN = {("tasks", "models"), ("models", "tasks")}
# Same-layer pairs that may import each other in the stated direction. cli's two modules are one
# entry point (``python -m radgrok`` is ``radgrok``).
SIBLINGS_ALLOWED = {("__main__", "cli")}
# Imports that break the contract knowingly: (importing module, imported module) -> why. Keep empty.
ALLOWED: dict[tuple[str, str], str] = {}

RANK = {pkg: i for i, layer in enumerate(LAYERS) for pkg in layer}


def modules(src: Path = SRC) -> dict[str, Path]:
    """Dotted module name -> file, for every module of the package (a package is its __init__)."""
    out = {}
    for path in sorted((src / ROOT).rglob("*.py")):
        parts = path.relative_to(src).with_suffix("").parts
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


def _resolve(name: str, known: dict[str, Path]) -> str:
    """The module ``name`` denotes: itself if it is one, else the longest module prefix (an
    attribute of a module: ``radgrok.penalty.radial_penalty`` is ``radgrok.penalty``)."""
    while name not in known and "." in name:
        name = name.rpartition(".")[0]
    return name


def imports(module: str, path: Path, known: dict[str, Path]) -> list[tuple[int, str]]:
    """(line, imported radgrok module) for every import statement in ``path``, at any depth."""
    is_pkg = path.name == "__init__.py"
    package = module if is_pkg else module.rpartition(".")[0]
    out = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: level 1 is this module's package, 2 its parent, ...
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                stem = ".".join(base + ([node.module] if node.module else []))
            else:
                stem = node.module or ""
            # ``from pkg import name``: name is a submodule when there is one, else an attribute
            out += [(node.lineno, f"{stem}.{a.name}" if f"{stem}.{a.name}" in known else stem)
                    for a in node.names]
    # one entry per (line, module): ``from m import a, b`` is one import of m
    return list(dict.fromkeys((line, _resolve(name, known)) for line, name in out
                              if name == ROOT or name.startswith(ROOT + ".")))


def package_of(module: str) -> str:
    """The layer key of a module: its top-level subpackage (``radgrok.training.loop`` -> training)."""
    return module.split(".")[1] if "." in module else ""


def graph(src: Path = SRC) -> tuple[dict[str, list[tuple[int, str]]], dict[str, Path]]:
    known = modules(src)
    return {m: imports(m, p, known) for m, p in known.items()}, known


def violations(src: Path = SRC) -> list[str]:
    """One line per import that breaks the contract, and per package in no layer."""
    edges, known = graph(src)
    found = []
    for pkg in sorted({package_of(m) for m in known} - set(RANK)):
        found.append(f"{ROOT}.{pkg} is in no layer: add it to LAYERS in tests/test_layers.py")
    for mod, targets in edges.items():
        a = package_of(mod)
        for line, target in targets:
            b = package_of(target)
            if a == b or a not in RANK or b not in RANK or (mod, target) in ALLOWED:
                continue
            where = f"{known[mod].relative_to(src.parent)}:{line}: {mod} imports {target}"
            if RANK[b] < RANK[a]:
                found.append(f"{where} ({a} is below {b}: a lower layer imports a higher one)")
            elif RANK[a] == RANK[b] and (a, b) not in SIBLINGS_ALLOWED:
                found.append(f"{where} ({a} and {b} are one layer: no sideways imports)")
            elif (a, b) in FORBIDDEN:
                found.append(f"{where} ({a} must not import {b})")
    return found


def cycles(src: Path = SRC) -> list[list[str]]:
    """Every strongly connected group of two or more modules (or a module importing itself), each
    as one cycle through it: ``[a, b, ..., a]``."""
    edges, _ = graph(src)
    succ = {m: sorted({t for _, t in ts if t in edges}) for m, ts in edges.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    groups: list[list[str]] = []

    def connect(v: str) -> None:  # Tarjan; the package has ~100 modules, recursion depth is fine
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in succ[v]:
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1 or v in succ[v]:
                groups.append(sorted(group))

    for v in sorted(succ):
        if v not in index:
            connect(v)
    return [_cycle_in(g, succ) for g in groups]


def _cycle_in(group: list[str], succ: dict[str, list[str]]) -> list[str]:
    """One cycle through the group's first module, by breadth-first search inside the group."""
    start, members = group[0], set(group)
    prev: dict[str, str] = {}
    frontier = [start]
    while frontier:
        nxt = []
        for v in frontier:
            for w in succ[v]:
                if w == start:
                    path = [v]
                    while path[-1] != start:
                        path.append(prev[path[-1]])
                    return [start, *reversed(path[:-1]), start] if v != start else [start, start]
                if w in members and w not in prev:
                    prev[w] = v
                    nxt.append(w)
        frontier = nxt
    raise AssertionError(f"no cycle in strongly connected group {group}")


def test_every_import_respects_the_layers():
    found = violations()
    assert not found, "imports that break the layer contract:\n" + "\n".join(found)


def test_the_module_import_graph_has_no_cycle():
    found = cycles()
    assert not found, "import cycles:\n" + "\n".join(" -> ".join(c) for c in found)


def test_the_checker_sees_what_it_must(tmp_path):
    """A planted upward import inside a function, a relative sideways one, a forbidden pair and a
    cycle are each reported: the contract cannot pass by seeing nothing."""
    pkg = tmp_path / ROOT
    for sub in ("tasks", "models", "diagnostics", "training"):
        (pkg / sub).mkdir(parents=True)
        (pkg / sub / "__init__.py").write_text("")
    (pkg / "__init__.py").write_text("")
    (pkg / "tasks" / "a.py").write_text("from radgrok.models import m\n")
    (pkg / "models" / "m.py").write_text("def f():\n    from ..training import t\n")
    (pkg / "diagnostics" / "d.py").write_text("from ..tasks.a import X\n")
    (pkg / "training" / "t.py").write_text("from . import u\n")
    (pkg / "training" / "u.py").write_text("import radgrok.training.t\n")
    found = "\n".join(violations(tmp_path))
    assert "radgrok.tasks.a imports radgrok.models.m (tasks must not import models)" in found
    assert "radgrok.models.m imports radgrok.training.t (models is below training" in found
    assert "radgrok.diagnostics.d imports radgrok.tasks.a (diagnostics and tasks are one layer" in found
    assert len(found.splitlines()) == 3
    assert cycles(tmp_path) == [["radgrok.training.t", "radgrok.training.u", "radgrok.training.t"]]


if __name__ == "__main__":
    edges, known = graph()
    problems = violations() + [" -> ".join(c) for c in cycles()]
    print("\n".join(problems) or f"layers clean: {len(known)} modules, "
          f"{sum(len(set(t for _, t in ts)) for ts in edges.values())} radgrok imports, no cycle")
