"""Run ``python -m eostutor`` (see :mod:`eostutor.cli`)."""

import sys

from eostutor.cli import main

sys.exit(main())
