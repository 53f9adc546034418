"""``python -m tlcourse`` is the same as the ``tlcourse`` command."""

from tlcourse.cli import main

raise SystemExit(main())
