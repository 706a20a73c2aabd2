"""``python -m offsetsite``: the same command line as the ``offsetsite`` script."""

import sys

from offsetsite.cli import main

sys.exit(main())
