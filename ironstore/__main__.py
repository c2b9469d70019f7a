"""`python -m ironstore` runs the `ironstore` command."""

import sys

from .cli import main

sys.exit(main())
