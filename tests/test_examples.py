"""The examples run (``--smoke``), and the pages that show their code show exactly their marked regions:
the README's quickstart the plain loop, the integrations page the two trainers."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
# page, section heading (None: the whole page) -> the regions its python blocks must be, in order
PAGES = {
    ("README.md", "## Quickstart: the penalty in your own loop"): ["own_loop"],
    ("docs/site-src/integrations.md", "## Three runnable examples"): ["hf", "lightning"],
}

# what each example prints once it has trained and measured
EXPECTED = {
    "own_loop.py": ["radii:", "phi_rad (task):", "test accuracy"],
    "hf_trainer.py": ["'radgrok/penalty'", "'radgrok/radius/transformer.h.0'", "'radgrok/phi_rad/transformer.h.1'"],
    "lightning_trainer.py": ["'radgrok/penalty'", "'radgrok/radius/net.1'", "'radgrok/phi_rad/net.3'"],
}


@pytest.mark.parametrize("script", sorted(EXPECTED))
def test_example_runs_in_smoke_mode(tmp_path, script):
    env = dict(os.environ)
    for var in ("HOME", "MPLCONFIGDIR", "HF_HOME", "XDG_CACHE_HOME", "TMPDIR"):
        (tmp_path / var).mkdir()
        env[var] = str(tmp_path / var)
    env["HF_HUB_OFFLINE"] = "1"
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT / "src"), env.get("PYTHONPATH")]))
    # cwd=tmp_path: whatever an example writes by default lands there, not in the checkout
    done = subprocess.run([sys.executable, str(EXAMPLES / script), "--smoke"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    for text in EXPECTED[script]:
        assert text in done.stdout, (text, done.stdout[-2000:])


def regions() -> dict[str, str]:
    """``name -> dedented text`` of every ``# --8<-- [start:name]`` ... ``[end:name]`` in examples/."""
    found: dict[str, str] = {}
    for path in sorted(EXAMPLES.glob("*.py")):
        text = path.read_text(encoding="utf-8")
        for name, body in re.findall(r"# --8<-- \[start:(\w+)\]\n(.*?)\n[ \t]*# --8<-- \[end:\1\]", text, re.S):
            assert name not in found, f"region {name!r} is marked twice"
            found[name] = textwrap.dedent(body).strip("\n")
    return found


def python_blocks(page: str, heading: str | None) -> list[str]:
    """The ```python blocks of ``page`` under ``heading`` (up to the next heading of that level)."""
    text = (ROOT / page).read_text(encoding="utf-8")
    if heading is not None:
        assert heading in text, f"{page} has no {heading!r} section"
        level = heading.split(" ", 1)[0] + " "
        text = re.split(rf"^{level}", text.split(heading, 1)[1], maxsplit=1, flags=re.M)[0]
    return [b.strip("\n") for b in re.findall(r"```python\n(.*?)```", text, re.S)]


def test_the_pages_show_the_examples_marked_regions_verbatim():
    marked = regions()
    assert set(marked) == {"own_loop", "hf", "lightning"}
    shown = [name for names in PAGES.values() for name in names]
    assert sorted(shown) == sorted(marked), "every marked region is shown on exactly one page"
    for (page, heading), names in PAGES.items():
        blocks = python_blocks(page, heading)
        assert blocks == [marked[n] for n in names], f"{page}: the code differs from {names}; copy the region"
