"""`python -m connectors.simulate --seed 7 --families 200 --incidents 300 --out DIR`."""

import sys

from connectors.simulate.command import main

sys.exit(main())
