"""C{python -m wtvserv.cli}: the same as C{wtvserv}."""

import sys

from wtvserv.cli.main import main

sys.exit(main())
