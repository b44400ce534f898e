"""``python -m sparsefit`` is the ``sparsefit`` command."""

from .cli import main

raise SystemExit(main())
