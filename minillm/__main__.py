"""`python -m minillm ...` runs the command line (minillm.cli)."""

from .cli import main

raise SystemExit(main())
