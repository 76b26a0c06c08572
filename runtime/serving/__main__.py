"""`python -m runtime.serving`: the same as `mlplat-serve`."""

import sys

from runtime.serving.cli import main

sys.exit(main())
