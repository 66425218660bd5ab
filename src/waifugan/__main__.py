"""`python -m waifugan` is the same as the `waifugan` command."""

from waifugan.cli import main

raise SystemExit(main())
