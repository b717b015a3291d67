"""`python -m graphstep`: the same command line as the `graphstep` console script."""

from graphstep.cli import main

raise SystemExit(main())
