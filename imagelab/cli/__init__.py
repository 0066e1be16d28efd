"""The commands: one module each, run as ``imagelab COMMAND`` or ``python -m imagelab.cli.COMMAND``."""
