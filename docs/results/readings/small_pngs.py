"""Re-encode committed PNGs that no --report-only run regenerates (fig4 / fig5, whose reports read
checkpoints that are not committed, and the figures outside docs/results/reproduce) with the
256-colour palette every report figure now gets (radgrok.report.plots.small_png); issue 26.

    .venv/bin/python docs/results/readings/small_pngs.py PNG...
"""

import sys
from pathlib import Path

from radgrok.report.plots import small_png

for p in map(Path, sys.argv[1:]):
    before = p.stat().st_size
    small_png(p.read_bytes(), p)
    print(f"{p}: {before:,} -> {p.stat().st_size:,} bytes")
