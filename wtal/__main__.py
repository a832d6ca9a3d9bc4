"""``python -m wtal``: the ``wtal`` command line."""
import sys

from wtal.cli import main

sys.exit(main())
