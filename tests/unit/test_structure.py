"""The tree keeps its shape: tools/structure_check.py passes on it, and catches what it is there to catch."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]
CHECKER = ROOT / "tools" / "structure_check.py"


def checker() -> ModuleType:
    spec = importlib.util.spec_from_file_location("structure_check", CHECKER)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is made
    spec.loader.exec_module(module)
    return module


def test_the_tree_holds_every_enforced_rule() -> None:
    """What CI would say: exit 0, and the enforced rules named. (Which rules: ENFORCED in the checker.)"""
    run = subprocess.run([sys.executable, str(CHECKER)], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.startswith("0 breach(es)")


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    (root / "tests").mkdir(exist_ok=True)
    return root


def breaches(root: Path, rule: str) -> list[str]:
    sc = checker()
    return [f"{b.path}:{b.line}" for b in sc.check(root, {rule: ()})]


def test_a_cycle_through_an_import_inside_a_function_or_under_type_checking_is_found(tmp_path: Path) -> None:
    root = write(tmp_path, {
        "src/hum/__init__.py": "",
        "src/hum/a.py": "def f():\n    from hum import b\n",
        "src/hum/b.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from hum.a import f\n",
        "src/hum/c.py": "from hum import a\n",
    })
    assert breaches(root, "import-cycle") == ["src/hum/a.py:1"]


def test_long_files_and_functions_are_found_but_demo_functions_may_run_long(tmp_path: Path) -> None:
    body = "def f():\n" + "    x = 1\n" * 60
    root = write(tmp_path, {
        "src/hum/long.py": "x = 1\n" * 401,
        "src/hum/fn.py": body,
        "src/hum/demo/story.py": body,
    })
    assert breaches(root, "file-length") == ["src/hum/long.py:401"]
    assert breaches(root, "function-length") == ["src/hum/fn.py:1"]


def test_states_compared_with_strings_are_found(tmp_path: Path) -> None:
    root = write(tmp_path, {
        "src/hum/link.py": (
            "def f(link, state):\n"
            "    a = link.state == 'up'\n"
            "    b = 'closed' != self._state\n"
            "    c = state in ('up', 'closed')\n"
            "    d = link.state is LinkState.UP\n"
        ),
    })
    assert breaches(root, "state-string") == ["src/hum/link.py:2", "src/hum/link.py:3", "src/hum/link.py:4"]


def test_the_node_shape_rules_find_inheritance_fat_inits_and_a_big_router(tmp_path: Path) -> None:
    init = "".join(f"        self.a{i} = {i}\n" for i in range(17))
    methods = "".join(f"    def m{i}(self):\n        pass\n" for i in range(41))
    root = write(tmp_path, {
        "src/hum/node/state.py": f"class State:\n    def __init__(self):\n{init}",
        "src/hum/node/router.py": f"from hum.node.state import State\nfrom hum.core import Base\nclass Router(State):\n{methods}\nclass Other(Base):\n    pass\n",
    })
    assert breaches(root, "node-inheritance") == ["src/hum/node/router.py:3"]
    assert breaches(root, "node-init-attrs") == ["src/hum/node/state.py:2"]
    assert breaches(root, "router-size") == ["src/hum/node/router.py:3"]


def test_wane_in_outside_wire_and_tests_importing_tests_are_found(tmp_path: Path) -> None:
    root = write(tmp_path, {
        "src/hum/wire/tones.py": "def is_petal(t):\n    return 'wane' in t\n",
        "src/hum/surface.py": "def f(t):\n    return 'wane' not in t\n",
        "tests/unit/test_a.py": "from test_b import helper\nfrom aiohttp.test_utils import TestClient\n",
        "tests/unit/test_b.py": "import b_helpers\n",
    })
    assert breaches(root, "wane-in") == ["src/hum/surface.py:2"]
    assert breaches(root, "test-imports-test") == ["tests/unit/test_a.py:1"]
