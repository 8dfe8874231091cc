"""`python -m factory`: see factory.cli."""

import sys

from factory.cli import command

sys.exit(command())
