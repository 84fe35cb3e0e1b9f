"""`python -m connectors.cli ...`: the `dvtrigger` command."""

import sys

from connectors.cli.main import main

sys.exit(main())
