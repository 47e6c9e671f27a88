"""The documentation site builds with ``mkdocs build --strict`` and has its generated pages.

mkdocs and its plugins come with the ``docs`` extra, which ``make test`` installs; in CI a
missing mkdocs is a failure, elsewhere (a venv without the extra) the test is skipped.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import re
import shlex
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
             "docs/results/index.html", "docs/results/readings/index.html", "examples/index.html",
             "layout/index.html", "compatibility/index.html"]
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
    from radgrok.experiments.presets import PRESETS

    for name in PRESETS:  # the presets table, generated from the registry
        assert f"<code>{name}</code>" in cli, name

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


def _hooks():
    """docs/hooks.py as a module (it imports mkdocs)."""
    _require_mkdocs()
    spec = importlib.util.spec_from_file_location("radgrok_docs_hooks", ROOT / "docs" / "hooks.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _readme_commands() -> list[str]:
    """The lines of the README's 'Five commands' block."""
    text = (ROOT / "README.md").read_text(encoding="utf-8").split("## Five commands", 1)[1]
    return re.search(r"```bash\n(.*?)```", text, re.S).group(1).strip().splitlines()


def test_the_cli_pages_common_commands_and_the_readmes_five_parse():
    """Every line of the command-line page's 'Common commands' and of the README's five commands is a real
    invocation of the real parser."""
    from radgrok.cli import build_parser

    commands = _hooks()._COMMON
    assert len(commands) >= 10 and len(_readme_commands()) == 5
    for line in commands + _readme_commands():
        argv = shlex.split(line.split("  #", 1)[0])
        assert argv[0] == "radgrok", line
        build_parser().parse_args(argv[1:])  # argparse exits (SystemExit) on an unknown flag or value


def test_the_reproduce_overview_counts_each_reports_graded_verdicts():
    """The overview's counts are the reports' verdict cells, graded words only; a report written before the
    grading rule (no rule line) is the only kind whose words count as 'other'."""
    hooks = _hooks()
    from radgrok.experiments.verdicts import GRADES

    assert set(hooks._VERDICTS) == set(GRADES)
    for report in sorted((ROOT / "docs/results/reproduce").glob("*/report.md")):
        text = report.read_text(encoding="utf-8")
        table = [line for line in hooks._section(text, "Verdicts") if line.startswith("|")]
        cells = [row.rstrip().rstrip("|").rsplit("|", 1)[-1].strip() for row in table[2:]]
        words = [re.match(r"\*\*(.+?)\*\*", c).group(1) for c in cells]  # every verdict cell starts in bold
        counts = hooks._verdict_counts(table)
        assert sum(counts.values()) == len(words), report
        for grade in GRADES:
            assert counts[grade] == words.count(grade), (report, grade)
        if "Grading rule (one for every target)" in text or not words:  # choices, mechanism: no claims
            assert counts[hooks._OTHER] == 0, report
        else:
            assert counts[hooks._OTHER] == sum(w not in GRADES for w in words) > 0, report


def test_the_layout_page_names_every_package_and_module():
    page = (ROOT / "docs/site-src/layout.md").read_text(encoding="utf-8")
    src = ROOT / "src" / "radgrok"
    for d in sorted(p for p in src.iterdir() if p.is_dir() and (p / "__init__.py").exists()):
        assert f"  {d.name}/" in page, f"layout.md does not name the package {d.name}/"
    for py in sorted(src.rglob("*.py")):
        if py.name != "__init__.py":
            assert re.search(rf"\b{re.escape(py.name)}\b", page), f"layout.md does not name {py.relative_to(src)}"


def test_the_readme_stays_a_page_for_users():
    """README.md opens with the two commands and stays at most 150 lines (results, history and references
    live on the docs site)."""
    lines = (ROOT / "README.md").read_text().splitlines()
    assert len(lines) <= 150, f"README.md has {len(lines)} lines; move detail to docs/site-src or docs/results"
    fence = lines.index("```bash")
    assert [ln.split()[:2] for ln in lines[fence + 1: fence + 3]] == [["make", "demo"], ["make", "test"]]
