from __future__ import annotations

import sys

from sitegen.cli import main

sys.exit(main())
