"""C{python -m wtvserv.box}: the same as C{wtvserv box}."""

import sys

from wtvserv.cli.aliases import box

sys.exit(box())
