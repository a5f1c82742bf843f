"""`python -m hum.cli`."""

import sys

from hum.cli import main

sys.exit(main())
