"""``python -m lumiaudit``: the same command line as the ``lumiaudit`` console script."""

from __future__ import annotations

import sys

from lumiaudit.cli import main

if __name__ == "__main__":
    sys.exit(main())
