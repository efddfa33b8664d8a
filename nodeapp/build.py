"""Which modules the optional compiled build turns into C extensions, and whether they are.

``NODEAPP_COMPILE=1 pip install -e .`` (or ``pip install .``) compiles the modules listed here
with mypyc: the zome call and validation path, where a call spends most of its time in our own
Python. The source stays the same Python; a plain install runs it as such. Python loads a
compiled module in preference to its source, so after editing a compiled module's source the
build must be redone (or its ``.so`` removed): :func:`stale_compiled_modules` finds those.
Nothing runs at import: ``setup.py`` reads this module before anything is installed.
"""

from __future__ import annotations

import importlib.machinery
from pathlib import Path

# paths relative to the project root, as mypyc wants them
COMPILED_SOURCES = (
    "nodeapp/conductor.py",
    "nodeapp/zome_api.py",
    "nodeapp/store/sqlite_store.py",
    "nodeapp/store/records.py",
    "nodeapp/_core/app_validation.py",
    "nodeapp/_core/canonical.py",
    "nodeapp/_core/hashing.py",
    "nodeapp/_core/ops.py",
    "nodeapp/_core/sys_validation.py",
)
COMPILED_MODULES = tuple(path[:-3].replace("/", ".") for path in COMPILED_SOURCES)


_ROOT = Path(__file__).absolute().parent.parent  # where the COMPILED_SOURCES paths start


def _extensions(root: Path) -> dict[str, Path]:
    """Every compiled extension file in the package tree, by the module it provides."""
    found = {}
    for path in sorted((root / "nodeapp").rglob("*")):
        for suffix in importlib.machinery.EXTENSION_SUFFIXES:  # the most specific comes first
            if path.name.endswith(suffix):
                found[".".join(path.relative_to(root).parts)[: -len(suffix)]] = path
                break
    return found


def compiled_modules(root: Path = _ROOT) -> list[str]:
    """The listed modules that load as compiled extensions (Python prefers those)."""
    extensions = _extensions(root)
    return [module for module in COMPILED_MODULES if module in extensions]


def stale_compiled_modules(root: Path = _ROOT) -> list[str]:
    """Compiled modules whose ``.py`` source was changed after they were built, and those
    left from a build whose list held modules this one no longer compiles."""
    extensions = _extensions(root)
    stale = []
    for source, module in zip(COMPILED_SOURCES, COMPILED_MODULES, strict=True):
        extension = extensions.get(module)
        if extension is not None and (root / source).exists() and (
                (root / source).stat().st_mtime > extension.stat().st_mtime):
            stale.append(module)
    stale += [module for module in extensions if module not in COMPILED_MODULES]
    return stale


def stale_message(stale: list[str]) -> str:
    """One line telling what is stale and the two ways out."""
    return (f"compiled {', '.join(stale)} older than the source or no longer compiled; "
            "delete the .so files in nodeapp/ to run the source, then rebuild if wanted "
            "(NODEAPP_COMPILE=1 pip install -e .)")
