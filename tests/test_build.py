"""The optional compiled build: which modules it compiles, and the refusal to run (CLI) or test
(pytest) compiled modules older than their source, which would run code that is not the tree's."""

from __future__ import annotations

import importlib.machinery
import os
from pathlib import Path

import pytest

import nodeapp.entry
from nodeapp.build import (
    COMPILED_MODULES,
    COMPILED_SOURCES,
    compiled_modules,
    stale_compiled_modules,
)

ROOT = Path(__file__).resolve().parent.parent
SUFFIX = importlib.machinery.EXTENSION_SUFFIXES[0]


def fake_tree(root: Path, built_at: float, edited_at: float) -> None:
    """Every listed source, with a "compiled" file for the first two."""
    for index, source in enumerate(COMPILED_SOURCES):
        path = root / source
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("")
        os.utime(path, (edited_at, edited_at))
        if index < 2:
            extension = root / (source[:-3] + SUFFIX)
            extension.write_bytes(b"")
            os.utime(extension, (built_at, built_at))


def test_every_listed_source_exists_and_names_its_module() -> None:
    for source, module in zip(COMPILED_SOURCES, COMPILED_MODULES, strict=True):
        assert (ROOT / source).is_file(), source
        assert module.replace(".", "/") + ".py" == source


def test_a_build_newer_than_its_source_is_fresh(tmp_path: Path) -> None:
    fake_tree(tmp_path, built_at=2_000_000, edited_at=1_000_000)
    assert compiled_modules(tmp_path) == list(COMPILED_MODULES[:2])
    assert stale_compiled_modules(tmp_path) == []


def test_a_source_edited_after_the_build_is_stale(tmp_path: Path) -> None:
    fake_tree(tmp_path, built_at=1_000_000, edited_at=2_000_000)
    assert stale_compiled_modules(tmp_path) == list(COMPILED_MODULES[:2])


def test_no_build_is_nothing_compiled(tmp_path: Path) -> None:
    for source in COMPILED_SOURCES:
        (tmp_path / source).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / source).write_text("")
    assert compiled_modules(tmp_path) == [] and stale_compiled_modules(tmp_path) == []


def test_the_cli_refuses_a_stale_build_in_one_line(monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(nodeapp.entry, "stale_compiled_modules", lambda: ["nodeapp.conductor"])
    with pytest.raises(SystemExit) as exit_info:
        nodeapp.entry.main()
    assert exit_info.value.code == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: compiled nodeapp.conductor older")
    assert "delete the .so files" in err
    assert "NODEAPP_COMPILE=1 pip install -e ." in err


def test_a_module_no_longer_listed_but_still_compiled_is_stale(tmp_path: Path) -> None:
    fake_tree(tmp_path, built_at=2_000_000, edited_at=1_000_000)
    (tmp_path / "nodeapp" / "_core" / ("integrity" + SUFFIX)).write_bytes(b"")
    assert stale_compiled_modules(tmp_path) == ["nodeapp._core.integrity"]
