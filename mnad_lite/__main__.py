"""``python -m mnad_lite``: the command line (see :mod:`mnad_lite.cli`)."""

from mnad_lite.cli import main

raise SystemExit(main())
