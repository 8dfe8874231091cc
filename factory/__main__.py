"""`python -m factory`: see factory.cli."""

import sys

from factory.cli import main

sys.exit(main())
