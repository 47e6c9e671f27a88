"""``python -m build`` makes an sdist and a wheel whose contents are what an install needs.

The build runs on a copy of the sources in tmp_path (nothing is written into the checkout) and
without build isolation (``build`` and ``setuptools>=77`` come with the dev extra), so it needs no
network. Installing the wheel into a clean venv and running the CLI from it is ``make package-check``
(scripts/package_check.sh), which is too slow for every test run.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _need_build() -> None:
    try:
        import build  # noqa: F401
        import setuptools
    except ImportError as e:
        if os.environ.get("CI"):
            raise
        pytest.skip(f"the dev extra is not installed ({e})")
    if int(setuptools.__version__.split(".")[0]) < 77:
        pytest.skip(f"setuptools {setuptools.__version__} < 77 (pyproject.toml's build requirement)")


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> tuple[Path, Path, str]:
    _need_build()
    tmp = tmp_path_factory.mktemp("packaging")
    src = tmp / "radgrok"
    src.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, src / name)
    shutil.copytree(ROOT / "src", src / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    env = {**os.environ, "HOME": str(tmp / "home"), "PIP_NO_INDEX": "1"}
    proc = subprocess.run([sys.executable, "-m", "build", "--no-isolation", "--outdir", str(tmp / "dist"), str(src)],
                          capture_output=True, text=True, env=env, timeout=600)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-4000:]
    wheels = list((tmp / "dist").glob("radgrok-*.whl"))
    sdists = list((tmp / "dist").glob("radgrok-*.tar.gz"))
    assert len(wheels) == 1 and len(sdists) == 1, list((tmp / "dist").iterdir())
    return wheels[0], sdists[0], log


def _package_files() -> set[str]:
    """Every file of the package as the wheel must hold it: modules and declared package data."""
    pkg = ROOT / "src"
    out = set()
    for p in (pkg / "radgrok").rglob("*"):
        if p.is_file() and "__pycache__" not in p.parts and (p.suffix in (".py", ".c") or p.parent.name == "data"):
            out.add(p.relative_to(pkg).as_posix())
    return out


def test_build_has_no_deprecation_warning(built):
    _, _, log = built
    assert "deprecated" not in log.lower(), [line for line in log.splitlines() if "deprecat" in line.lower()]


def test_wheel_contents(built):
    wheel, _, _ = built
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
        dist_info = next(n.split("/")[0] for n in names if n.split("/")[0].endswith(".dist-info"))
        metadata = z.read(f"{dist_info}/METADATA").decode()
        entry_points = z.read(f"{dist_info}/entry_points.txt").decode()
    missing = _package_files() - names
    assert not missing, sorted(missing)
    assert "radgrok/tasks/data/tiny_text.txt" in names  # package data the text task loads by default
    assert not [n for n in names if n.endswith((".c", ".so"))]  # pure Python: nothing compiled or to compile
    assert not [n for n in names if n.startswith(("tests/", "docs/", "benchmarks/", "examples/"))]
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
    assert f"{dist_info}/licenses/LICENSE" in names
    assert "License-Expression: MIT" in metadata.splitlines()
    assert "License-File: LICENSE" in metadata.splitlines()
    assert "Requires-Dist: torch>=2.3" in metadata.splitlines()
    assert "radgrok = radgrok.cli:main" in entry_points


def test_sdist_contents(built):
    _, sdist, _ = built
    with tarfile.open(sdist) as t:
        names = {n.split("/", 1)[1] for n in t.getnames() if "/" in n}
    for need in ("pyproject.toml", "README.md", "LICENSE", "PKG-INFO", "src/radgrok/__init__.py",
                 "src/radgrok/tasks/data/tiny_text.txt"):
        assert need in names, need
