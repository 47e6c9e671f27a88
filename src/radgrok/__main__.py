"""``python -m radgrok`` is the ``radgrok`` command (for machines where the package is on
PYTHONPATH but not installed, such as a lent GPU box)."""

import sys

from .cli import main

sys.exit(main())
