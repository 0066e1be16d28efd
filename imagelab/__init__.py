"""imagelab: image classification in plain NumPy, from k-nearest neighbours to a fast CNN recipe.

Importing the package imports nothing else: take what you need from its subpackages
(``imagelab.nn``, ``imagelab.autograd``, ``imagelab.data``, ...; the map is in
docs/layout.md). The commands are ``imagelab COMMAND`` (``imagelab --help``).
"""
__version__ = "1.0.0"
