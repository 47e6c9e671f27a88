"""The documentation site builds with ``mkdocs build --strict`` and has its generated pages.

mkdocs and its plugins come with the ``docs`` extra, which ``make test`` installs; in CI a
missing mkdocs is a failure, elsewhere (a venv without the extra) the test is skipped.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _require_mkdocs() -> None:
    try:
        import material  # noqa: F401
        import mkdocs  # noqa: F401
        import mkdocstrings  # noqa: F401
    except ImportError as e:
        if os.environ.get("CI"):
            raise
        pytest.skip(f"the docs extra is not installed ({e})")


def build_site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, subprocess.CompletedProcess]:
    """``mkdocs build --strict`` of the repository's mkdocs.yml into ``tmp_path/site``."""
    _require_mkdocs()
    for var in ("HOME", "MPLCONFIGDIR", "XDG_CACHE_HOME"):
        (tmp_path / var.lower()).mkdir(exist_ok=True)
        monkeypatch.setenv(var, str(tmp_path / var.lower()))
    monkeypatch.setenv("NO_MKDOCS_2_WARNING", "1")
    monkeypatch.setenv("COLUMNS", "100")
    site = tmp_path / "site"
    proc = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(ROOT / "mkdocs.yml"),
                           "-d", str(site)], cwd=ROOT, capture_output=True, text=True, timeout=300)
    return site, proc


def _subcommands() -> list[str]:
    from radgrok.cli import build_parser

    for action in build_parser()._actions:
        if isinstance(action, argparse._SubParsersAction):
            return list(action.choices)
    raise AssertionError("radgrok's parser has no sub-commands")


def test_mkdocs_build_strict(tmp_path, monkeypatch):
    site, proc = build_site(tmp_path, monkeypatch)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "WARNING" not in proc.stderr, proc.stderr[-3000:]

    pages = ["index.html", "penalty/index.html", "diagnostics/index.html", "methods/index.html",
             "integrations/index.html", "reproduce/index.html", "cli/index.html", "performance/index.html",
             "run-records/index.html", "run-records-example/index.html", "api/penalty/index.html",
             "docs/results/index.html", "docs/results/readings/index.html", "examples/index.html"]
    for page in pages:
        assert (site / page).is_file(), page

    # the reproduce reports and their figures, collected from docs/results by the build
    reports = sorted(p.parent.name for p in (ROOT / "docs/results/reproduce").glob("*/report.md"))
    assert reports
    overview = (site / "reproduce/index.html").read_text(encoding="utf-8")
    for name in reports:
        html = site / "docs/results/reproduce" / name / "report/index.html"
        assert html.is_file(), name
        assert f"docs/results/reproduce/{name}/report/" in overview, name
        for png in (ROOT / "docs/results/reproduce" / name).glob("*.png"):
            assert (site / "docs/results/reproduce" / name / png.name).is_file(), png
    assert "reproduced" in overview and "Table 2" in overview

    # the CLI page has one section per sub-command of the real parser, with its real help
    cli = (site / "cli/index.html").read_text(encoding="utf-8")
    for name in _subcommands():
        assert f'id="radgrok-{name}"' in cli, name
    assert "--norm-over" in cli and "--weight-decay" in cli  # flags generated from the config dataclasses

    # the API reference comes from the docstrings
    api = (site / "api/penalty/index.html").read_text(encoding="utf-8")
    assert "RadialSuppression" in api and "radial_penalty" in api
    # the package re-exports them from its modules: their docstrings, not only their names, are rendered
    assert "Forward hooks that apply radial suppression" in api and "under one reading of" in api

    # every example file with a marked region is on the examples page, its code pulled in by snippets
    examples = (site / "examples/index.html").read_text(encoding="utf-8")
    for py in (ROOT / "examples").glob("*.py"):
        if "--8<-- [start:" in py.read_text(encoding="utf-8"):
            assert f'id="{py.stem}"' in examples, py.name
            assert "--8&lt;--" not in examples and "--8<--" not in examples  # every snippet was resolved

    # every benchmark file is on the performance page
    perf = (site / "performance/index.html").read_text(encoding="utf-8")
    for js in (ROOT / "benchmarks/results").glob("*.json"):
        assert js.stem in perf, js.name
