"""The performance benchmark, as ``radgrok bench``: see radgrok/experiments/bench.py.

    python benchmarks/bench.py [--quick] [--json FILE]
"""

import sys

from radgrok.experiments.bench import main

if __name__ == "__main__":
    sys.exit(main())
