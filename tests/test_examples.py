"""The examples run (``--smoke``), and the README shows exactly their marked regions."""

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
SECTION = "## Using radgrok in your own trainer"

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


def readme_blocks() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert SECTION in text, f"README has no {SECTION!r} section"
    section = text.split(SECTION, 1)[1]
    section = re.split(r"^## ", section, maxsplit=1, flags=re.M)[0]
    return [b.strip("\n") for b in re.findall(r"```python\n(.*?)```", section, re.S)]


def test_readme_code_is_the_examples_marked_regions():
    marked = regions()
    assert set(marked) == {"own_loop", "hf", "lightning"}
    blocks = readme_blocks()
    assert sorted(blocks) == sorted(marked.values()), "README blocks and example regions differ; copy the region"
