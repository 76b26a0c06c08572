from runtime.training.cli import main

raise SystemExit(main())
