"""The import graph of a package, counting every import statement (top level,
function-local, under `if TYPE_CHECKING:`), and its cycles.

    python3 tools/importgraph.py            # figures and every cycle of nslab
    python3 tools/importgraph.py --edges    # also every edge with its lines
    python3 tools/importgraph.py --check    # exit 1 if any cycle (for CI / tests)

A cycle is a strongly connected component of more than one module (or a module
importing itself). Edges are between modules, not packages: `from . import x`
inside package p is an edge to p.x when p.x is a module, else to p.
TYPE_CHECKING imports are counted but marked, since they do not run.
"""

from __future__ import annotations

import argparse
import ast
import signal
import sys
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Edge:
    src: str
    dst: str
    path: str
    line: int
    text: str
    local: bool  # inside a function
    type_only: bool  # under `if TYPE_CHECKING:`


def modules(root: Path, package: str) -> dict[str, Path]:
    """Dotted module name -> file, for every .py under root/package."""
    found = {}
    for path in sorted((root / package).rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _resolve(mod: str, is_pkg: bool, level: int, name: str | None) -> str:
    """The absolute module a `from ...name import` in `mod` means."""
    if level == 0:
        return name or ""
    base = mod.split(".") if is_pkg else mod.split(".")[:-1]
    if level > 1:
        base = base[: len(base) - (level - 1)]
    return ".".join(base + ([name] if name else []))


def _target(known: dict[str, Path], dotted: str) -> str | None:
    """The longest known module that `dotted` names or lies in."""
    while dotted:
        if dotted in known:
            return dotted
        dotted = dotted.rpartition(".")[0]
    return None


def edges(root: Path, package: str) -> list[Edge]:
    known = modules(root, package)
    out: list[Edge] = []
    for mod, path in known.items():
        is_pkg = path.name == "__init__.py"
        source = path.read_text()
        lines = source.splitlines()
        tree = ast.parse(source, str(path))

        def visit(node: ast.AST, local: bool, type_only: bool, mod: str = mod, is_pkg: bool = is_pkg,
                  path: Path = path, lines: list[str] = lines) -> None:
            for child in ast.iter_child_nodes(node):
                child_local = local or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
                child_tc = type_only
                if isinstance(child, ast.If) and _is_type_checking(child.test):
                    for sub in child.body:
                        visit_one(sub, child_local, True)
                    for sub in child.orelse:
                        visit_one(sub, child_local, type_only)
                    continue
                visit_one(child, child_local, child_tc)

        def visit_one(child: ast.AST, local: bool, type_only: bool, mod: str = mod, is_pkg: bool = is_pkg,
                      path: Path = path, lines: list[str] = lines) -> None:
            targets: list[str] = []
            if isinstance(child, ast.Import):
                targets = [a.name for a in child.names]
            elif isinstance(child, ast.ImportFrom):
                base = _resolve(mod, is_pkg, child.level, child.module)
                # `from p import x` is an import of p.x when p.x is a module
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in child.names]
            for dst in dict.fromkeys(_target(known, t) for t in targets):  # one edge per statement and target
                if dst and dst != mod:
                    out.append(Edge(mod, dst, str(path.relative_to(root)), child.lineno,  # type: ignore[attr-defined]
                                    lines[child.lineno - 1].strip(), local, type_only))  # type: ignore[attr-defined]
            visit(child, local, type_only)

        visit(tree, False, False)
    return out


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one node (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    nodes = sorted(set(graph) | {d for ds in graph.values() for d in ds})
    for start in nodes:
        if start in index:
            continue
        work = [(start, iter(sorted(graph.get(start, ()))))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on.add(start)
        while work:
            node, it = work[-1]
            advanced = False
            for nxt in it:
                if nxt not in index:
                    index[nxt] = low[nxt] = counter
                    counter += 1
                    stack.append(nxt)
                    on.add(nxt)
                    work.append((nxt, iter(sorted(graph.get(nxt, ())))))
                    advanced = True
                    break
                if nxt in on:
                    low[node] = min(low[node], index[nxt])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                comp = []
                while True:
                    top = stack.pop()
                    on.discard(top)
                    comp.append(top)
                    if top == node:
                        break
                if len(comp) > 1:
                    found.append(sorted(comp))
    return sorted(found, key=lambda c: (-len(c), c))


def report(root: Path, package: str, show_edges: bool, runtime_only: bool) -> int:
    all_edges = edges(root, package)
    used = [e for e in all_edges if not (runtime_only and e.type_only)]
    graph: dict[str, set[str]] = defaultdict(set)
    for e in used:
        graph[e.src].add(e.dst)
    mods = modules(root, package)
    pairs = {(e.src, e.dst) for e in used}
    local_pairs = {(e.src, e.dst) for e in used if e.local} - {(e.src, e.dst) for e in used if not e.local}
    comps = cycles(graph)
    print(f"{package}: {len(mods)} modules, {len(pairs)} module edges "
          f"({len(local_pairs)} only through function-local imports), "
          f"{len(used)} import statements-targets, {len(comps)} cycles (SCCs)")
    for comp in comps:
        members = set(comp)
        print(f"\ncycle of {len(comp)}: {' '.join(comp)}")
        for e in sorted(used, key=lambda e: (e.src, e.dst, e.line)):
            if e.src in members and e.dst in members:
                tag = " [local]" if e.local else ""
                tag += " [TYPE_CHECKING]" if e.type_only else ""
                print(f"  {e.src} -> {e.dst}  {e.path}:{e.line}  {e.text}{tag}")
    if show_edges:
        print("\nall edges:")
        for e in sorted(used, key=lambda e: (e.src, e.dst, e.line)):
            print(f"  {e.src} -> {e.dst}  {e.path}:{e.line}{' [local]' if e.local else ''}")
    return len(comps)


def main() -> int:
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # `| head` ends the output quietly
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--root", default=str(Path(__file__).resolve().parent.parent))
    ap.add_argument("--package", default="nslab")
    ap.add_argument("--edges", action="store_true")
    ap.add_argument("--runtime", action="store_true", help="leave out TYPE_CHECKING imports")
    ap.add_argument("--check", action="store_true", help="exit 1 if there is a cycle")
    args = ap.parse_args()
    n = report(Path(args.root), args.package, args.edges, args.runtime)
    return 1 if (args.check and n) else 0


if __name__ == "__main__":
    sys.exit(main())
