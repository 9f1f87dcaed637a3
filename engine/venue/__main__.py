"""``python -m engine.venue``: the same as ``perpdesk venue``."""

import sys

from .server import main

sys.exit(main())
