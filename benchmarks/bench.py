"""The performance benchmark: ``radgrok bench`` itself (the keys are in radgrok/experiments/bench.py).

    python benchmarks/bench.py [--quick] [--json FILE] [--device cpu|cuda[:N]]
"""

import sys

from radgrok.cli import main

if __name__ == "__main__":
    sys.exit(main(["bench", *sys.argv[1:]]))
