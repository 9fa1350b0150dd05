"""The import rules of docs/architecture.md, checked on the source with ``ast`` (nothing is imported).

- no import cycle between modules of ``daemon/``, ``detectors/`` and ``correlators/`` (imports at the
  top and inside functions count; those under ``if TYPE_CHECKING:`` do not; importing a name from a
  package counts as an edge to the package's ``__init__`` and, when the name is a submodule, to it);
- ``detectors/`` and ``correlators/`` import nothing from ``daemon/``; ``detectors/`` nothing from
  ``correlators/``;
- no class in ``daemon/`` longer than 300 lines;
- an import inside a function only where a heavy or optional dependency is deferred (the allow-list
  below, one reason per entry) or for ``--help`` to answer without loading the command.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("daemon", "detectors", "correlators")
MAX_CLASS_LINES = 300

# module -> modules it may import inside a function, and why (everything else imports at the top)
DEFERRED: dict[str, dict[str, str]] = {
    "daemon.cli.console": {"daemon.telemetry.logs": "--help answers without loading logging set-up",
                        "*": "each command's module is imported (importlib) only when that command runs"},
    "daemon.cli.run": {"*": "`run --help` answers without loading the daemon"},
    "daemon.cli.options": {"daemon.config": "pydantic loads when an address is validated, not for --help"},
    "daemon.cli.demo": {"*": "`demo --help` answers without loading the daemon, numpy or the store"},
    "daemon.cli.check_config": {"*": "`check-config --help` answers without loading pydantic models"},
    "daemon.cli.replay": {"*": "`replay --help` answers without loading numpy, river or the store"},
    "daemon.cli.drill": {"*": "`drill --help` answers without loading the notifiers"},
    "daemon.cli.simulate": {"*": "`simulate --help` answers without loading numpy"},
    "daemon.cli.incidents": {"*": "`incidents --help` answers without loading the renderers"},
    "daemon.cli.detect": {"*": "`detect --help` answers without loading numpy and river"},
    "daemon.cluster.build": {"daemon.cluster.kube_lease": "the kubernetes client loads only for a lease",
                             "daemon.cluster.leader": "asyncpg loads only with PostgreSQL"},
    "daemon.confirm.build": {"daemon.sources.prometheus": "the Prometheus client loads only when confirm tests run"},
    "daemon.sources.factory": {"*": "each source's client library (kubernetes, prometheus) loads only "
                                    "when configured"},
    "daemon.notify.factory": {"*": "each receiver's client library (slack_sdk) loads only when configured"},
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for pkg in PACKAGES for p in sorted((ROOT / pkg).rglob("*.py"))
            if "migrations" not in p.parts}


def _is_type_checking(node: ast.If) -> bool:
    t = node.test
    return (isinstance(t, ast.Name) and t.id == "TYPE_CHECKING") or (
        isinstance(t, ast.Attribute) and t.attr == "TYPE_CHECKING")


def _imports(tree: ast.AST, in_function: bool = False) -> Iterator[tuple[ast.Import | ast.ImportFrom, bool]]:
    """Every import statement with whether it sits inside a function; not those under TYPE_CHECKING."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and _is_type_checking(node):
            for sub in node.orelse:
                yield from _imports(ast.Module(body=[sub], type_ignores=[]), in_function)
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node, in_function
            continue
        yield from _imports(node, in_function or isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)))


def _targets(module: str, is_pkg: bool, node: ast.Import | ast.ImportFrom, known: set[str]) -> set[str]:
    """The modules of ours that one import statement loads (the package and, for names that are
    submodules, those too)."""
    out: set[str] = set()
    if isinstance(node, ast.Import):
        names = [a.name for a in node.names]
    else:
        if node.level:
            base = module.split(".") if is_pkg else module.split(".")[:-1]
            base = base[:len(base) - (node.level - 1)]
            target = ".".join(base + ([node.module] if node.module else []))
        else:
            target = node.module or ""
        submodules = [f"{target}.{a.name}" for a in node.names if f"{target}.{a.name}" in known]
        # ``from pkg import sub`` loads the submodule (its package is its parent, loaded either way);
        # ``from pkg import Name`` runs pkg/__init__ (re-exports are edges)
        names = submodules if len(submodules) == len(node.names) else [target, *submodules]
    for name in names:
        if name in known:
            out.add(name)
    return out


def _graph() -> tuple[dict[str, set[str]], list[tuple[str, str, int]]]:
    """Module -> modules it imports; and every import inside a function (module, target, line)."""
    mods = _modules()
    known = set(mods)
    graph: dict[str, set[str]] = {m: set() for m in mods}
    deferred: list[tuple[str, str, int]] = []
    for mod, path in mods.items():
        tree = ast.parse(path.read_text(), str(path))
        for node, in_function in _imports(tree):
            for target in _targets(mod, path.name == "__init__.py", node, known) - {mod}:
                graph[mod].add(target)
                if in_function:
                    deferred.append((mod, target, node.lineno))
    return graph, deferred


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    out: list[list[str]] = []
    counter = 0
    for start in sorted(graph):
        if start in index:
            continue
        work: list[tuple[str, Iterator[str]]] = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                comp = []
                while True:
                    top = stack.pop()
                    on_stack.discard(top)
                    comp.append(top)
                    if top == node:
                        break
                if len(comp) > 1:
                    out.append(sorted(comp))
    return out


def test_the_cycle_finder_finds_a_cycle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert _cycles(graph) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_type_checking_imports_are_not_edges() -> None:
    tree = ast.parse("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .x import y\n"
                     "def f():\n    from .z import w\n")
    found = [(n.module, inside) for n, inside in _imports(tree)]
    assert found == [("typing", False), ("z", True)]


def test_no_import_cycles() -> None:
    graph, _ = _graph()
    cycles = _cycles(graph)
    detail = []
    for comp in cycles:
        members = set(comp)
        detail.append(" <-> ".join(comp) + "\n    " + "\n    ".join(
            f"{m} -> {', '.join(sorted(graph[m] & members))}" for m in comp))
    assert not cycles, "import cycles:\n" + "\n".join(detail)


def test_inner_packages_do_not_import_the_daemon() -> None:
    graph, _ = _graph()
    bad = [f"{m} -> {t}" for m, ts in graph.items() for t in ts
           if (m.startswith(("detectors", "correlators")) and t.startswith("daemon"))
           or (m.startswith("detectors") and t.startswith("correlators"))]
    assert not bad, "detectors/ and correlators/ must not import daemon/ (nor detectors/ correlators/):\n" + \
        "\n".join(bad)


def test_imports_inside_functions_are_on_the_allow_list() -> None:
    _, deferred = _graph()
    bad = [f"{m}:{line} imports {t} inside a function" for m, t, line in deferred
           if t not in DEFERRED.get(m, {}) and "*" not in DEFERRED.get(m, {})]
    assert not bad, ("import at the top of the module, or add the module to DEFERRED with the reason "
                     "(a heavy optional dependency):\n" + "\n".join(bad))


# (importing module prefix, imported module prefix, why not): the rooms' rules of docs/architecture.md
FORBIDDEN: list[tuple[str, str, str]] = [
    ("daemon.core", "daemon.", "the core is pure: detectors, correlators and itself only"),
    ("daemon.runtime", "daemon.api.app", "the composition root hands the runtime its HTTP app"),
    ("daemon.runtime", "daemon.cli", "nothing but the console script imports the CLI"),
    ("daemon.runtime", "daemon.config.compose", "the composition root builds the runtime, not the reverse"),
    ("daemon.api", "daemon.runtime", "the API sees the daemon through daemon.api.backend and daemon.core.ports"),
    ("daemon.web", "daemon.runtime", "the pages see the daemon through daemon.api.backend"),
    ("daemon.workspace", "daemon.runtime", "the workspace sees the daemon through daemon.core.ports"),
    ("daemon.demo", "daemon.runtime", "the composition root builds the demo daemon"),
    ("daemon.sources", "daemon.runtime", "sources hand events over; they never drive the daemon"),
    ("daemon.notify", "daemon.runtime", "receivers are driven by the runtime's outbox"),
    ("daemon.store", "daemon.runtime", "the store holds records; it knows nothing of the daemon"),
    ("daemon.confirm", "daemon.runtime", "confirm tests are handed to the runtime by the composition root"),
    ("daemon.telemetry", "daemon.", "every room may use telemetry: it imports nothing of the daemon"),
]
ANYONE = ("daemon.cli", "daemon.config.compose")  # the entry points, imported by nothing else


def test_rooms_import_only_what_their_rules_allow() -> None:
    graph, _ = _graph()
    bad = []
    for m, targets in graph.items():
        for t in targets:
            for src, dst, why in FORBIDDEN:
                inside = t.startswith(src + ".") or t == src
                if (m == src or m.startswith(src + ".")) and t.startswith(dst) and not inside:
                    bad.append(f"{m} -> {t}: {why}")
            if t.startswith(ANYONE) and not m.startswith(ANYONE):
                bad.append(f"{m} -> {t}: only the CLI imports the entry points")
    assert not bad, "imports against the rooms' rules:\n" + "\n".join(sorted(bad))


def test_no_class_in_daemon_is_longer_than_300_lines() -> None:
    long = []
    for mod, path in _modules().items():
        if not mod.startswith("daemon"):
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ClassDef) and node.end_lineno is not None:
                n = node.end_lineno - node.lineno + 1
                if n > MAX_CLASS_LINES:
                    long.append(f"{mod}.{node.name}: {n} lines")
    assert not long, f"classes over {MAX_CLASS_LINES} lines (split them by job):\n" + "\n".join(long)
