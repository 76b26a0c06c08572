from runtime.promote.cli import main

raise SystemExit(main())
