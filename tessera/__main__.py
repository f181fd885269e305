"""`python -m tessera ...`, the same as the `tessera` command; how torchrun starts it:
`torchrun --nproc_per_node N -m tessera train-dit ...`."""

import sys

from tessera.cli import main

sys.exit(main())
