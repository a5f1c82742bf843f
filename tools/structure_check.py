#!/usr/bin/env python3
"""The project's structure rules, checked on the source tree with `ast` (stdlib only).

    python tools/structure_check.py          # the enforced rules; exit 1 on any breach
    python tools/structure_check.py --all    # every rule everywhere, as the finished tree must hold

Rules (the engineering standards, and issue 18's "Done means"):

  import-cycle      no import cycle in src/, counting imports inside functions and under TYPE_CHECKING
  file-length       no file in src/ over 400 lines
  function-length   no function over 60 lines outside src/hum/demo and src/hum/cli
  node-inheritance  no class in src/hum/node derives from a class defined in src/hum/node
  node-init-attrs   no class in src/hum/node sets more than 16 attributes (`self.x =`) in __init__
  router-size       the Router class has at most 40 methods, and its file at most 350 lines
  wane-in           no `"wane" in ...` outside src/hum/wire (`is_petal` says it)
  state-string      no `state == "..."` string comparison in src/ (states are Enums)
  test-imports-test no test module imports another `test_*` module (share through conftest or helpers)
"""

from __future__ import annotations

import argparse
import ast
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

MAX_FILE_LINES = 400
MAX_FUNCTION_LINES = 60
MAX_NODE_INIT_ATTRS = 16
MAX_ROUTER_METHODS = 40
MAX_ROUTER_FILE_LINES = 350

NODE = "src/hum/node/"
# Where long functions are allowed: scripted stories and argument parsing read top to bottom.
LONG_FUNCTIONS_ALLOWED = ("src/hum/demo/", "src/hum/cli/")



@dataclass(frozen=True)
class Breach:
    rule: str
    path: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: [{self.rule}] {self.message}"


@dataclass
class Module:
    path: str  # relative to the repository, with forward slashes
    name: str  # dotted module name (src/ files only; "" for tests)
    tree: ast.Module
    lines: int
    by_type: dict[type, list[ast.AST]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # One walk, every rule reads the nodes it needs. ast.walk does the same at half the speed.
        todo: list[ast.AST] = [self.tree]
        while todo:
            node = todo.pop()
            self.by_type.setdefault(type(node), []).append(node)
            for name in node._fields:
                if name == "ctx":
                    continue  # Load/Store/Del: no rule reads them
                value = getattr(node, name, None)
                if isinstance(value, list):
                    todo.extend(item for item in value if isinstance(item, ast.AST))
                elif isinstance(value, ast.AST):
                    todo.append(value)

    def nodes(self, *kinds: type) -> list:
        return [node for kind in kinds for node in self.by_type.get(kind, [])]


def load(root: Path, folder: str, wanted: Callable[[str], bool] = lambda text: True) -> list[Module]:
    """Every .py file under `folder` whose text is `wanted`, parsed."""
    out = []
    for file in sorted((root / folder).rglob("*.py")):
        text = file.read_text(encoding="utf-8")
        if not wanted(text):
            continue
        rel = file.relative_to(root).as_posix()
        parts = list(file.relative_to(root / "src").with_suffix("").parts) if folder == "src" else []
        if parts and parts[-1] == "__init__":
            parts.pop()
        out.append(Module(rel, ".".join(parts), ast.parse(text, filename=rel), len(text.splitlines())))
    return out


def may_import_a_test(text: str) -> bool:
    """A cheap look before parsing: only a file with an import line naming some `test_` can break that rule."""
    return any("test_" in line and line.lstrip().startswith(("import ", "from ")) for line in text.splitlines())


# -- import cycles ---------------------------------------------------------------


def imported_modules(module: Module, known: set[str]) -> set[str]:
    """Every src module `module` imports anywhere in its body, resolved to the longest known name."""
    out: set[str] = set()
    package = module.name.split(".") if module.path.endswith("__init__.py") else module.name.split(".")[:-1]
    for node in module.nodes(ast.Import, ast.ImportFrom):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            names = [f"{target}.{alias.name}" for alias in node.names] + [target]
        for name in names:
            while name and name not in known:
                name = name.rpartition(".")[0]
            if name and name != module.name:
                out.add(name)
    return out


def import_cycles(src: list[Module]) -> list[Breach]:
    by_name = {m.name: m for m in src}
    graph = {m.name: imported_modules(m, set(by_name)) for m in src}
    reach: dict[str, set[str]] = {}
    for start in graph:
        seen: set[str] = set()
        todo = [start]
        while todo:
            for nxt in graph[todo.pop()]:
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        reach[start] = seen
    breaches, done = [], set()
    for name in sorted(graph):
        if name in done or name not in reach[name]:
            continue
        cycle = sorted(other for other in graph if other in reach[name] and name in reach[other])
        done.update(cycle)
        breaches.append(Breach("import-cycle", by_name[name].path, 1, " <-> ".join(cycle)))
    return breaches


# -- sizes -----------------------------------------------------------------------


def file_lengths(src: list[Module]) -> list[Breach]:
    return [
        Breach("file-length", m.path, m.lines, f"{m.lines} lines (at most {MAX_FILE_LINES})")
        for m in src
        if m.lines > MAX_FILE_LINES
    ]


def function_lengths(src: list[Module]) -> list[Breach]:
    out = []
    for m in src:
        if m.path.startswith(LONG_FUNCTIONS_ALLOWED):
            continue
        for fn in m.nodes(ast.FunctionDef, ast.AsyncFunctionDef):
            length = (fn.end_lineno or fn.lineno) - fn.lineno + 1
            if length > MAX_FUNCTION_LINES:
                out.append(
                    Breach("function-length", m.path, fn.lineno, f"{fn.name}: {length} lines (at most {MAX_FUNCTION_LINES})")
                )
    return out


# -- the node's shape ------------------------------------------------------------


def node_class_names(m: Module) -> set[str]:
    """Names that, inside `m`, stand for classes defined in src/hum/node."""
    names = {n.name for n in m.nodes(ast.ClassDef)}
    for node in m.nodes(ast.ImportFrom):
        # `from hum.node.x import Y`, or a relative import inside node/
        if (node.module or "").startswith("hum.node") or (node.level and m.path.startswith(NODE)):
            names.update(alias.asname or alias.name for alias in node.names)
    return names


def node_inheritance(src: list[Module]) -> list[Breach]:
    out = []
    for m in src:
        if not m.path.startswith(NODE):
            continue
        local = node_class_names(m)
        for cls in m.nodes(ast.ClassDef):
            for base in cls.bases:
                name = base.id if isinstance(base, ast.Name) else ""
                if name in local:
                    out.append(Breach("node-inheritance", m.path, cls.lineno, f"{cls.name} derives from {name}"))
    return out


def self_attributes(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> set[str]:
    attrs = set()
    for node in ast.walk(fn):
        targets: list[ast.expr] = []
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, (ast.AnnAssign, ast.AugAssign)):
            targets = [node.target]
        for target in targets:
            for t in ast.walk(target):
                if isinstance(t, ast.Attribute) and isinstance(t.value, ast.Name) and t.value.id == "self":
                    attrs.add(t.attr)
    return attrs


def node_init_attrs(src: list[Module]) -> list[Breach]:
    out = []
    for m in src:
        if not m.path.startswith(NODE):
            continue
        for cls in m.nodes(ast.ClassDef):
            for fn in cls.body:
                if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)) and fn.name == "__init__":
                    count = len(self_attributes(fn))
                    if count > MAX_NODE_INIT_ATTRS:
                        out.append(
                            Breach("node-init-attrs", m.path, fn.lineno, f"{cls.name}.__init__ sets {count} attributes (at most {MAX_NODE_INIT_ATTRS})")
                        )
    return out


def router_size(src: list[Module]) -> list[Breach]:
    out = []
    for m in src:
        if not m.path.startswith(NODE):
            continue
        for cls in (n for n in m.tree.body if isinstance(n, ast.ClassDef) and n.name == "Router"):
            methods = sum(isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) for n in cls.body)
            if methods > MAX_ROUTER_METHODS:
                out.append(Breach("router-size", m.path, cls.lineno, f"Router has {methods} methods (at most {MAX_ROUTER_METHODS})"))
            if m.lines > MAX_ROUTER_FILE_LINES:
                out.append(Breach("router-size", m.path, cls.lineno, f"Router's file has {m.lines} lines (at most {MAX_ROUTER_FILE_LINES})"))
    return out


# -- expressions -----------------------------------------------------------------


def is_str(node: ast.expr) -> bool:
    if isinstance(node, ast.Constant):
        return isinstance(node.value, str)
    if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
        return bool(node.elts) and all(is_str(e) for e in node.elts)
    return False


def names_a_state(node: ast.expr) -> bool:
    name = node.id if isinstance(node, ast.Name) else node.attr if isinstance(node, ast.Attribute) else ""
    return name.lower().endswith("state")


def wane_in(src: list[Module]) -> list[Breach]:
    out = []
    for m in src:
        if m.path.startswith("src/hum/wire/"):
            continue
        for node in m.nodes(ast.Compare):
            if (
                isinstance(node.left, ast.Constant)
                and node.left.value == "wane"
                and isinstance(node.ops[0], (ast.In, ast.NotIn))
            ):
                out.append(Breach("wane-in", m.path, node.lineno, '`"wane" in ...`: say is_petal(...)'))
    return out


def state_strings(src: list[Module]) -> list[Breach]:
    out = []
    for m in src:
        for node in m.nodes(ast.Compare):
            operands = [node.left, *node.comparators]
            for op, left, right in zip(node.ops, operands, operands[1:], strict=False):
                if isinstance(op, (ast.Eq, ast.NotEq, ast.In, ast.NotIn, ast.Is, ast.IsNot)) and (
                    (names_a_state(left) and is_str(right)) or (names_a_state(right) and is_str(left))
                ):
                    out.append(Breach("state-string", m.path, node.lineno, "a state compared with a string: use its Enum"))
    return out


# -- tests -----------------------------------------------------------------------


def test_imports(tests: list[Module], local_tests: set[str]) -> list[Breach]:
    """`local_tests`: the names of the test modules in tests/ (not a library's `test_utils`)."""
    out = []
    for m in tests:
        for node in m.nodes(ast.Import, ast.ImportFrom):
            names = [alias.name for alias in node.names]
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module] if not node.level else [node.module, *names]
            for name in names:
                if name.rpartition(".")[2] in local_tests:
                    out.append(Breach("test-imports-test", m.path, node.lineno, f"imports {name}: share through conftest.py or a helper module"))
    return out


@dataclass
class Tree:
    src: list[Module]
    tests: list[Module]  # only those that may import a test module (`may_import_a_test`)
    test_names: set[str]  # every test_*.py in tests/, by module name


RULES: dict[str, Callable[[Tree], list[Breach]]] = {
    "import-cycle": lambda tree: import_cycles(tree.src),
    "file-length": lambda tree: file_lengths(tree.src),
    "function-length": lambda tree: function_lengths(tree.src),
    "node-inheritance": lambda tree: node_inheritance(tree.src),
    "node-init-attrs": lambda tree: node_init_attrs(tree.src),
    "router-size": lambda tree: router_size(tree.src),
    "wane-in": lambda tree: wane_in(tree.src),
    "state-string": lambda tree: state_strings(tree.src),
    "test-imports-test": lambda tree: test_imports(tree.tests, tree.test_names),
}

ENFORCED: dict[str, tuple[str, ...]] = {rule: () for rule in RULES}



def check(root: Path, rules: dict[str, tuple[str, ...]]) -> list[Breach]:
    """Every breach of `rules` (rule -> paths it does not look at) in the tree at `root`."""
    tree = Tree(
        src=load(root, "src"),
        tests=load(root, "tests", may_import_a_test) if "test-imports-test" in rules else [],
        test_names={f.stem for f in (root / "tests").rglob("test_*.py")},
    )
    out = []
    for rule, exempt in rules.items():
        out.extend(b for b in RULES[rule](tree) if not (exempt and b.path.startswith(exempt)))
    return sorted(out, key=lambda b: (b.path, b.line, b.rule))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--all", action="store_true", help="every rule everywhere, not only what is enforced today")
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parent.parent)
    args = parser.parse_args(argv)
    rules = {rule: () for rule in RULES} if args.all else ENFORCED
    breaches = check(args.root, rules)
    for breach in breaches:
        print(breach)
    pending = sorted(set(RULES) - set(rules))
    print(
        f"{len(breaches)} breach(es) of {len(rules)} rule(s)"
        + (f"; not enforced yet: {', '.join(pending)}" if pending else "")
    )
    return 1 if breaches else 0


if __name__ == "__main__":
    sys.exit(main())
