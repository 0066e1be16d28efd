"""Base helpers every other subpackage may use: argument checks, atomic files, progress lines, the machine."""
