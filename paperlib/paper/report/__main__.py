"""`python -m paperlib.paper.report --profile P`: the page of a profile's saved results."""
import sys

from . import main

sys.exit(main())
