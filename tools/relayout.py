"""Move nslab's flat modules into subpackages by responsibility and rewrite every import.

    python3 tools/relayout.py --plan     # on the flat tree: unplaced modules, upward imports, cycles
    python3 tools/relayout.py            # do it: git mv, rewrite, write the contract (in a clean clone!)

Run it on a fresh main (it refuses a tree that is already laid out). It fails loudly,
before changing anything, on a module the map has no place for. What it rewrites:
- relative imports in nslab/, top level and function-local (`from .x import y`,
  `from . import x, y`, `from ..x import y`, `from .. import handlers`), kept relative;
- `from nslab import x` / `from nslab.handlers import x` when x is a moved module;
- every other dotted name `nslab.x...` in .py/.cfg/.toml/.md/.sh/.ini files (absolute
  imports, monkeypatch strings, `python3 -m nslab.x`, entry points), and `nslab/x.py` paths;
- `Path(__file__).with_name(...)` in a module that moved one level down (bundled labs);
- setup.cfg: the import-linter contract and `import-linter` in the test extras;
  .ci/run: `lint-imports` after mypy; README's Layout section: the package map.
Then it sorts the imports it touched (`ruff check --select I --fix`).
"""

from __future__ import annotations

import argparse
import ast
import os
import re
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import importgraph  # noqa: E402

# Top to bottom: a layer imports only layers below it (import-linter `layers`, exhaustive).
LAYERS = ["faces", "lab", "handlers", "engine", "ops", "services", "kernel", "lang", "base"]

PACKAGES: dict[str, tuple[str, str]] = {  # subpackage: (what it holds, what it may import)
    "faces": ("The faces: the `nslab` command, the REPL, completion, highlighting, the renderer, attach.",
              "every layer below; nothing imports a face"),
    "handlers": ("The commands: one handler per form of the command table, returning data.",
                 "engine, ops, services, kernel, lang, base"),
    "engine": ("The engine: the session (it runs the handlers it is given), the handlers' context and their "
               "view of the lab (kernel and model backends), transactions, host safety (host log, lock, guard, "
               "egress, clean), undo and reset, replay, export, the dry run.", "ops, services, kernel, lang, base"),
    "ops": ("Ops: the op registry (each kind declared once: fields, kernel apply, model effect, iproute2 lines, "
            "words, flags), the kernel and container/OVS implementations, the model effects on the lab state, "
            "snapshots, identity, and the journal that records ops.", "services, kernel, lang, base"),
    "services": ("Docker and Open vSwitch: the services outside the kernel that nslab drives.",
                 "kernel, lang, base; docker and ovs do not import each other"),
    "kernel": ("The kernel client and the lab state: rtnetlink, namespaces, isolation, what the lab holds "
               "(inventory, and the pure LabState value with its one reader), ping.", "lang, base"),
    "lang": ("The language: lexer, argument kinds, the command table and its spec, the grammar walker, "
             "the parser and .lab files.", "base"),
    "base": ("What every layer shares: errors a user sees, the result records handlers return, and the "
             "environment object (streams, terminal, directories, sockets, ask) the faces pass down.",
             "nothing in nslab"),
}

# old module (relative to nslab) -> new module. A module missing here stops the run.
MAP: dict[str, str] = {
    # base
    "errors": "base.errors", "results": "base.results", "environment": "base.environment",
    # lang
    "lexer": "lang.lexer", "kinds": "lang.kinds", "spec": "lang.spec", "commands": "lang.commands",
    "parser": "lang.parser", "labfile": "lang.labfile", "patternwalk": "lang.patternwalk",
    "grammar": "lang.grammar", "bundled": "lang.bundled", "suggestions": "lang.suggestions",
    # kernel client and lab state
    "rtnl": "kernel.rtnl", "nlmsg": "kernel.nlmsg", "netns": "kernel.netns", "sysns": "kernel.sysns",
    "procns": "kernel.procns", "isolate": "kernel.isolate", "inventory": "kernel.inventory",
    "state": "kernel.state", "labstate": "kernel.labstate", "ping": "kernel.ping", "targets": "kernel.targets",
    # Docker and OVS (container_ops, their ops, sits above them in ops)
    "containers": "services.docker", "image": "services.image", "ovs": "services.ovs",
    # ops
    "ops": "ops.apply", "op_text": "ops.op_text", "container_ops": "ops.container_ops",
    "snapshot": "ops.snapshot", "identity": "ops.identity", "shell_words": "ops.shell_words",
    "settle": "ops.settle", "journal": "ops.journal", "records": "ops.records",
    "opkinds": "ops.opkinds", "model": "ops.model",
    # engine
    "session": "engine.session", "tx": "engine.tx", "hostlog": "engine.hostlog", "lablock": "engine.lablock",
    "guard": "engine.guard", "egress": "engine.egress", "undo": "engine.undo", "clean": "engine.clean",
    "export": "engine.export", "dryrun": "engine.dryrun", "stepper": "engine.stepper",
    "leftovers": "engine.leftovers",
    # commands: the handlers package stays where it is
    "handlers": "handlers",
    # faces
    "cli": "faces.cli", "repl": "faces.repl", "completion": "faces.completion", "highlight": "faces.highlight",
    "render": "faces.render", "attach": "faces.attach", "anchor": "faces.anchor",
    # the library's front door: the session bound to the commands (between faces and handlers)
    "lab": "lab",
    # the handlers' narrow context and their view of the lab (kernel or model backend)
    "context": "engine.context", "view": "engine.view",
}
STAY = {"__init__", "__main__"}
# A layer may also be one top-level module that stays where it is (MAP value without a dot,
# e.g. "lab": "lab" for an nslab/lab.py between faces and handlers); add it to LAYERS.
  # nslab/__init__.py (public names) and `python3 -m nslab`
TEXT_SUFFIXES = {".py", ".cfg", ".toml", ".md", ".sh", ".ini", ".txt", ".rst"}
SKIP_DIRS = {".git", "__pycache__", ".mypy_cache", ".ruff_cache", ".pytest_cache", "build", "dist", "tools"}


class Refused(SystemExit):
    def __init__(self, msg: str) -> None:
        super().__init__(f"relayout: {msg}")


def check_map() -> None:
    """The map and the layers agree: every target sits in a layer, every layer is a package or a module."""
    for old, new in MAP.items():
        if new.split(".")[0] not in LAYERS:
            raise Refused(f"MAP[{old!r}] = {new!r}: {new.split('.')[0]!r} is not in LAYERS")
    for name in LAYERS:
        if name not in PACKAGES and MAP.get(name) != name:
            raise Refused(f"layer {name!r} is neither in PACKAGES nor a module MAP keeps in place")


def flat_modules(root: Path) -> dict[str, Path]:
    """Modules of the flat tree, relative to nslab: 'cli', 'handlers', 'handlers.build'."""
    return {k.removeprefix("nslab").lstrip("."): v for k, v in importgraph.modules(root, "nslab").items()}


def new_name(old: str) -> str:
    """New dotted name (relative to nslab) for an old one; submodules follow their package."""
    head, _, rest = old.partition(".")
    if head in MAP:
        return MAP[head] + ("." + rest if rest else "")
    return old


def check_placed(root: Path) -> list[str]:
    """Flat modules the map has no place for."""
    missing = []
    for mod, path in flat_modules(root).items():
        top = mod.split(".")[0]
        if not mod or top in STAY or top in MAP:
            continue
        missing.append(f"nslab/{path.relative_to(root / 'nslab')}")
    # a directory with Python in it that is not a package we know is a surprise too
    for d in (root / "nslab").iterdir():
        if d.is_dir() and d.name not in MAP and d.name not in {"labs", "__pycache__"} and any(d.rglob("*.py")):
            missing.append(f"nslab/{d.name}/")
    return sorted(set(missing))


def layer_of(mod: str) -> str | None:
    """The layer of a flat module name ('nslab.cli' -> 'faces'), or None for nslab/__init__, __main__."""
    rel = mod.removeprefix("nslab").lstrip(".")
    if not rel or rel.split(".")[0] in STAY or rel.split(".")[0] not in MAP:
        return None
    return new_name(rel).split(".")[0]


def plan(root: Path) -> int:
    """What stands between the flat tree and the contract: unplaced modules, upward imports, cycles."""
    check_map()
    bad = 0
    missing = check_placed(root)
    for m in missing:
        print(f"NO PLACE: {m}  (add it to MAP in tools/relayout.py)")
    bad += len(missing)
    edges = importgraph.edges(root, "nslab")
    rank = {name: i for i, name in enumerate(LAYERS)}  # 0 is the top
    print("\nimports that go up a layer (counting function-local and TYPE_CHECKING imports):")
    ups = 0
    for e in sorted(edges, key=lambda e: (e.src, e.dst, e.line)):
        a, b = layer_of(e.src), layer_of(e.dst)
        if a and b and a != b and rank[b] < rank[a]:
            ups += 1
            tags = (" [local]" if e.local else "") + (" [TYPE_CHECKING]" if e.type_only else "")
            print(f"  {a} -> {b}: {e.path}:{e.line}  {e.text}{tags}")
    print(f"  {ups} upward imports")
    bad += ups
    graph: dict[str, set[str]] = defaultdict(set)
    for e in edges:
        if not e.type_only:
            graph[e.src].add(e.dst)
    comps = importgraph.cycles(graph)
    print(f"\ncycles at run time (function-local imports counted, TYPE_CHECKING not): {len(comps)}")
    for comp in comps:
        print("  " + " ".join(c.removeprefix("nslab.") for c in comp))
    bad += len(comps)
    return 1 if bad else 0


# ---------------------------------------------------------------- rewriting


def _relative(importer_pkg: list[str], target: list[str]) -> str:
    """`from X import` text for an absolute target module path, seen from importer_pkg."""
    common = 0
    while common < min(len(importer_pkg), len(target)) and importer_pkg[common] == target[common]:
        common += 1
    dots = "." * (len(importer_pkg) - common + 1)
    return dots + ".".join(target[common:])


def _old_abs(mod: str, is_pkg: bool, level: int, name: str | None) -> str:
    return importgraph._resolve(mod, is_pkg, level, name)


def _offsets(source: str) -> list[int]:
    starts = [0]
    for line in source.splitlines(keepends=True):
        starts.append(starts[-1] + len(line))
    return starts


_FROM = re.compile(r"^(from\s+)[.\w]+")


def import_spans(source: str, old_mod: str, is_pkg: bool, new_mod: str, old_modules: set[str],
                 in_package: bool) -> list[tuple[int, int, str]]:
    """(start, end, text) for each import statement that must be rewritten."""
    tree = ast.parse(source)
    starts = _offsets(source)
    new_is_pkg = is_pkg
    new_pkg = new_mod.split(".") if new_is_pkg else new_mod.split(".")[:-1]
    spans = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.ImportFrom):
            continue
        base = _old_abs(old_mod, is_pkg, node.level, node.module)
        if base != "nslab" and not base.startswith("nslab."):
            continue
        if node.level == 0 and not any(f"{base}.{a.name}" in old_modules for a in node.names):
            continue  # `from nslab.x import name`: the dotted-name pass rewrites it
        groups: dict[str, list[str]] = {}
        for a in node.names:
            full = f"{base}.{a.name}"
            if full in old_modules:  # a module imported by name
                target = ("nslab." + new_name(full.removeprefix("nslab."))).split(".")
                local = a.asname or a.name
                parent, leaf = target[:-1], target[-1]
                head = _relative(new_pkg, parent) if node.level else ".".join(parent)
                groups.setdefault(head, []).append(leaf if leaf == local else f"{leaf} as {local}")
            else:
                rel = base.removeprefix("nslab").lstrip(".")
                target = ("nslab" + ("." + new_name(rel) if rel else "")).split(".")
                head = _relative(new_pkg, target) if node.level else ".".join(target)
                groups.setdefault(head, []).append(a.name if not a.asname else f"{a.name} as {a.asname}")
        indent = " " * node.col_offset
        start = starts[node.lineno - 1] + node.col_offset
        end = starts[node.end_lineno - 1] + node.end_col_offset  # type: ignore[operator]
        original = source[start:end]
        as_written = [a.name if not a.asname else f"{a.name} as {a.asname}" for a in node.names]
        if len(groups) == 1 and next(iter(groups.values())) == as_written:
            # only the module changes: keep the statement as written (parentheses, comments inside)
            only_head = next(iter(groups))
            text = _FROM.sub(lambda m, h=only_head: m.group(1) + h, original, count=1)
        else:
            text = f"\n{indent}".join(f"from {head} import {', '.join(names)}" for head, names in groups.items())
            if "#" in original:
                print(f"relayout: a comment inside this import was dropped, put it back by hand:\n  {original}",
                      file=sys.stderr)
        if original != text:
            spans.append((start, end, text))
    return spans


def dotted_rewriter(flat: dict[str, Path]):  # type: ignore[no-untyped-def]
    """Rewrites old module names in text the ast does not see as imports: dotted names
    (`nslab.ops.Kernel`, `-m nslab.cli`, entry points), `nslab/x.py` paths, path parts
    (`"nslab" / "x.py"`) and `from nslab import x, y` inside strings (code run by a subprocess)."""
    moved = sorted({m.split(".")[0] for m in flat if m and MAP.get(m.split(".")[0], m) != m.split(".")[0]},
                   key=len, reverse=True)
    alt = "|".join(map(re.escape, moved))
    dotted = re.compile(r"(?<![\w.])nslab\.(" + alt + r")(?![\w])")
    path = re.compile(r"(?<![\w.])nslab/(" + alt + r")\.py\b")
    parts = re.compile(r"""(["'])nslab\1(\s*/\s*)(["'])(""" + alt + r""")\.py\3""")
    from_pkg = re.compile(r"(?:(?<=\\n)|(?<![\w.]))from nslab import (\w+(?:, \w+)*)")  # also after a "\n" in a string

    def from_nslab(m: re.Match[str]) -> str:
        names = m.group(1).split(", ")
        if not any(n in moved for n in names):
            return m.group(0)
        groups: dict[str, list[str]] = {}
        for n in names:
            if n in moved:
                parent, _, leaf = ("nslab." + MAP[n]).rpartition(".")
                groups.setdefault(parent, []).append(leaf if leaf == n else f"{leaf} as {n}")
            else:
                groups.setdefault("nslab", []).append(n)
        return "; ".join(f"from {head} import {', '.join(ns)}" for head, ns in groups.items())

    def rewrite(text: str) -> str:
        text = from_pkg.sub(from_nslab, text)
        text = dotted.sub(lambda m: "nslab." + MAP[m.group(1)], text)
        text = parts.sub(lambda m: m.group(1) + "nslab" + m.group(1) + "".join(
            f"{m.group(2)}{m.group(3)}{p}{m.group(3)}" for p in MAP[m.group(4)].split(".")[:-1])
            + f"{m.group(2)}{m.group(3)}{MAP[m.group(4)].split('.')[-1]}.py{m.group(3)}", text)
        return path.sub(lambda m: "nslab/" + MAP[m.group(1)].replace(".", "/") + ".py", text)

    return rewrite


def residue(root: Path, flat: dict[str, Path]) -> list[str]:
    """Old module names still written somewhere after the rewrite (each is a bug of this script)."""
    moved = sorted({m.split(".")[0] for m in flat if m and MAP.get(m.split(".")[0], m) != m.split(".")[0]})
    # a moved module's old name directly under nslab, as a dotted name, a path or an imported name
    old = re.compile(r"(?<![\w.])nslab[./](" + "|".join(moved) + r")(?![\w])(?!/)"
                     r"|from nslab import (?:\w+, )*(" + "|".join(moved) + r")\b")
    found = []
    for path in [*others(root), *sorted((root / "nslab").rglob("*.py"))]:
        for n, line in enumerate(path.read_text().splitlines(), 1):
            for m in old.finditer(line):
                name = m.group(1) or m.group(2)
                if f"nslab/{name}/" in line or (root / "nslab" / name).is_dir():
                    continue  # the new package of the same name (nslab/ops/)
                found.append(f"{path.relative_to(root)}:{n}: {line.strip()}")
    return found


def rewrite_file(path: Path, text: str, spans: list[tuple[int, int, str]], rewrite) -> str:  # type: ignore[no-untyped-def]
    out, pos = [], 0
    for start, end, repl in sorted(spans):
        out.append(rewrite(text[pos:start]))
        out.append(repl)
        pos = end
    out.append(rewrite(text[pos:]))
    return "".join(out)


def contract_ini() -> str:
    return "\n".join([
        "[importlinter]",
        "root_package = nslab",
        "",
        "[importlinter:contract:layers]",
        "name = nslab's layers import only downward (function-local and TYPE_CHECKING imports counted)",
        "type = layers",
        "containers =",
        "    nslab",
        "layers =",
        *[f"    {name}" for name in LAYERS],
        "exhaustive = true",
        "exhaustive_ignores =",
        "    __main__",
        "",
        "[importlinter:contract:services]",
        "name = Docker and Open vSwitch do not import each other",
        "type = independence",
        "modules =",
        "    nslab.services.docker",
        "    nslab.services.ovs",
        "",
    ])


def layout_md(root: Path) -> str:
    """README's Layout section: the package map as laid out on disk."""
    lines = ["## Layout", "", "Layers import only downward (`lint-imports` checks it in `.ci/run`, and",
             "`tools/importgraph.py --check --runtime` fails on an import cycle):", "", "```"]
    for name in LAYERS:
        if name not in PACKAGES:
            lines.append(f"nslab/{name}.py")
            continue
        mods = sorted(p.stem for p in (root / "nslab" / name).glob("*.py") if p.stem != "__init__")
        lines.append(f"nslab/{name + '/':<10} {' '.join(mods)}")
    lines += ["```", ""]
    for name in LAYERS:
        if name in PACKAGES:
            lines.append(f"- `{name}/`: {PACKAGES[name][0]}")
        else:
            doc = ast.get_docstring(ast.parse((root / "nslab" / f"{name}.py").read_text())) or ""
            lines.append(f"- `{name}.py`: {doc.splitlines()[0] if doc else ''}")
    return "\n".join(lines) + "\n"


def edit_config(root: Path) -> None:
    cfg = root / "setup.cfg"
    text = cfg.read_text().rstrip("\n") + "\n"
    text = re.sub(r"\n\[importlinter[^\n]*\](?:\n(?!\[)[^\n]*)*", "", text)
    if "import-linter" not in text:
        text = re.sub(r"(\ntest =\n(?:    [^\n]*\n)*)", lambda m: m.group(1) + "    import-linter>=2.17\n", text, count=1)
        if "import-linter" not in text:
            raise Refused("setup.cfg: no [options.extras_require] test = list to add import-linter to")
    cfg.write_text(text.rstrip("\n") + "\n\n" + contract_ini())
    ci = root / ".ci" / "run"
    ci_text = ci.read_text()
    if "lint-imports" not in ci_text:
        new = re.sub(r"(mypy [^\n]*nslab[^\n]*\n)", r"\1lint-imports\npython3 tools/importgraph.py --check --runtime\n",
                     ci_text, count=1)
        if new == ci_text:
            raise Refused(".ci/run: no mypy line to put lint-imports after")
        ci.write_text(new)
    readme = root / "README.md"
    rtext = readme.read_text()
    new_r = re.sub(r"## Layout\n.*?(?=\n## |\Z)", lambda m: layout_md(root), rtext, count=1, flags=re.S)
    if new_r == rtext and "## Layout" not in rtext:
        print("relayout: README has no '## Layout' section; the package map was not written", file=sys.stderr)
    readme.write_text(new_r)


def others(root: Path) -> list[Path]:
    """Text files outside nslab/ that may name a module (symlinks and tools/ left alone)."""
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS and not (here / d).is_symlink()
                             and not (here == root and d == "nslab"))
        for name in sorted(filenames):
            path = here / name
            if not path.is_symlink() and (path.suffix in TEXT_SUFFIXES or (here.name == ".ci" and name == "run")):
                found.append(path)
    return found


def git(root: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(root), *args], check=True)


def relayout(root: Path) -> None:
    check_map()
    nslab = root / "nslab"
    done = [p for p in PACKAGES if p != "handlers" and (nslab / p).is_dir()]
    if done:
        raise Refused(f"already laid out (nslab/{done[0]}/ exists): run it on a fresh main")
    missing = check_placed(root)
    if missing:
        raise Refused("no place in MAP for: " + ", ".join(missing))
    flat = flat_modules(root)
    old_modules = {"nslab"} | {f"nslab.{m}" for m in flat}
    # `__file__` in a module that moves: only the bundled labs' `with_name` form is known how to fix
    file_fix = re.compile(r"Path\(__file__\)\.with_name\(")
    for mod, path in flat.items():
        if new_name(mod) != mod and "__file__" in path.read_text():
            rest = file_fix.sub("", path.read_text())
            if "__file__" in rest:
                raise Refused(f"{path.relative_to(root)} uses __file__ in a way this script does not rewrite")

    # 1. rewrite imports in the package, at the old paths (the ast knows the old names)
    rewrite = dotted_rewriter(flat)
    new_text: dict[Path, str] = {}
    for mod, path in flat.items():
        text = path.read_text()
        is_pkg = path.name == "__init__.py"
        old_full = "nslab" + ("." + mod if mod else "")
        new_full = "nslab." + new_name(mod) if mod and mod.split(".")[0] not in STAY else old_full
        spans = import_spans(text, old_full, is_pkg, new_full, old_modules, True)
        out = rewrite_file(path, text, spans, rewrite)
        if new_full.count(".") > old_full.count("."):
            out = file_fix.sub("Path(__file__).parent.with_name(", out)
        new_text[path] = out
    # 2. everything else that names a module: tests, bench, config, docs, CI
    for path in others(root):
        text = path.read_text()
        out = text
        if path.suffix == ".py":
            spans = import_spans(text, "tests.x", False, "tests.x", old_modules, False)
            out = rewrite_file(path, text, spans, rewrite)
        else:
            out = rewrite(text)
        if out != text:
            new_text[path] = out
    # 3. move, then write
    for name in PACKAGES:
        if name == "handlers":
            continue
        (nslab / name).mkdir()
    for mod, path in sorted(flat.items()):
        target = new_name(mod)
        if target == mod or "." in mod:  # unmoved, or inside a package that moves whole
            continue
        dst = nslab / (target.replace(".", "/") + (".py" if path.name != "__init__.py" else ""))
        if path.name == "__init__.py":
            dst = nslab / target.replace(".", "/")
            git(root, "mv", str(path.parent), str(dst))
            for p in list(new_text):
                if path.parent in p.parents:
                    new_text[dst / p.relative_to(path.parent)] = new_text.pop(p)
        else:
            git(root, "mv", str(path), str(dst))
            new_text[dst] = new_text.pop(path)
    for path, text in new_text.items():
        path.write_text(text)
    for name, (holds, may) in PACKAGES.items():
        init_py = nslab / name / "__init__.py"
        doc = f'"""{holds}\n\nMay import: {may}.\n"""\n'
        if name == "handlers":
            old = init_py.read_text()
            old_doc = ast.get_docstring(ast.parse(old)) or ""
            if "May import:" not in old_doc:
                init_py.write_text(old.replace(f'"""{old_doc}"""', f'"""{old_doc}\n\n{holds}\nMay import: {may}.\n"""', 1))
            continue
        init_py.write_text(doc)
        git(root, "add", str(init_py))
    edit_config(root)
    subprocess.run(["ruff", "check", "--select", "I", "--fix", "-q", "nslab", "tests", "bench"], cwd=root, check=False)
    left = residue(root, flat)
    if left:
        print("relayout: old module names left (rewrite these by hand, or teach this script):", file=sys.stderr)
        for line in left:
            print("  " + line, file=sys.stderr)
        raise Refused(f"{len(left)} old module names left")
    print(f"relayout: moved {sum(1 for m in flat if new_name(m) != m and '.' not in m)} modules into "
          f"{len(PACKAGES) - 1} new subpackages; rewrote {len(new_text)} files")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--root", default=".")
    ap.add_argument("--plan", action="store_true", help="only report what stands in the way, change nothing")
    args = ap.parse_args()
    root = Path(args.root).resolve()
    if args.plan:
        return plan(root)
    relayout(root)
    return 0


if __name__ == "__main__":
    sys.exit(main())
