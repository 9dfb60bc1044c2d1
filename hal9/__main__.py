"""``python -m hal9``."""

import sys

from hal9.cli import main

sys.exit(main())
