"""`python -m runtime.drift` is `mlplat-drift`."""

from runtime.drift.cli import main

raise SystemExit(main())
