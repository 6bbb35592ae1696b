"""`python -m cyclegan.train` and `torchrun ... -m cyclegan.train`: the cyclegan-train CLI."""

import sys

from cyclegan.cli.train import main

sys.exit(main())
