"""`python -m isonb`: see isonb.cli."""

from .cli import main

raise SystemExit(main())
