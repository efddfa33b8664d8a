"""The sans-IO core imports no network, disk, clock, randomness or concurrency module."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

import nodeapp._core

CORE_DIR = Path(nodeapp._core.__file__).resolve().parent
PROJECT_ROOT = CORE_DIR.parent.parent
CORE_FILES = sorted(CORE_DIR.glob("*.py"))
CORE_MODULES = [
    "nodeapp._core" if p.stem == "__init__" else f"nodeapp._core.{p.stem}" for p in CORE_FILES
]
FORBIDDEN = {
    "trio", "anyio", "asyncio", "sqlite3", "libp2p", "socket", "time", "random", "os",
    "threading", "subprocess",
}
# what importing a core module must not pull in, even through a dependency
FORBIDDEN_LOADED = {"sqlite3", "_sqlite3", "trio", "anyio", "libp2p", "socket", "asyncio"}


def imported_roots(source: str) -> set[str]:
    """Top-level names of every module an source file imports, wherever the import is."""
    roots = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
              and node.func.id == "__import__" and node.args
              and isinstance(node.args[0], ast.Constant)):
            roots.add(str(node.args[0].value).split(".")[0])
    return roots


def test_the_core_has_the_expected_modules() -> None:
    names = {p.stem for p in CORE_FILES}
    assert {"hashing", "canonical", "actions", "ops", "sys_validation", "integrity",
            "app_validation", "dna", "limits"} <= names


def test_the_ast_check_sees_every_import_form() -> None:
    source = "import os.path\nfrom time import sleep\ndef f():\n    import random\n" \
             "__import__('socket')\nfrom . import x\n"
    assert imported_roots(source) == {"os", "time", "random", "socket"}


@pytest.mark.parametrize("path", CORE_FILES, ids=lambda p: p.name)
def test_no_forbidden_import_in_the_source(path: Path) -> None:
    found = imported_roots(path.read_text()) & FORBIDDEN
    assert not found, f"{path.name} imports {sorted(found)}"


@pytest.mark.parametrize("path", CORE_FILES, ids=lambda p: p.name)
def test_core_imports_only_core_errors_or_third_party_pure_libraries(path: Path) -> None:
    roots = imported_roots(path.read_text())
    own = {r for r in roots if r in {"nodeapp", "dna", "zomes", "sims"}}
    assert own <= {"nodeapp"}
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("nodeapp"):
            assert node.module.startswith(("nodeapp._core", "nodeapp.errors")), node.module


def test_importing_the_core_loads_no_io_module() -> None:
    script = (
        "import json, sys\n"
        "before = set(sys.modules)\n"
        f"for name in {CORE_MODULES!r}:\n"
        "    __import__(name)\n"
        "print(json.dumps(sorted(set(sys.modules) - before)))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=PROJECT_ROOT, capture_output=True,
                          text=True, timeout=120, check=True,
                          env={"PYTHONPATH": str(PROJECT_ROOT), "PATH": ""})
    loaded = set(json.loads(done.stdout.splitlines()[-1]))
    assert set(CORE_MODULES) <= loaded
    gained = {m for m in loaded if m.split(".")[0] in FORBIDDEN_LOADED}
    assert not gained, f"importing the core loaded {sorted(gained)}"
