"""``python -m imagelab COMMAND [flags]``: the same front as the ``imagelab`` command."""
from imagelab.cli import main

main()
