"""Everything beyond the lab: shared checks, and (in time) datasets, studies and networks.

The lab itself stays at the repository's root (``read_cifar.py``, ``knn.py``,
``mlp.py``); this package only holds what they share and what goes further. Importing
the package imports nothing else, so any of its modules can be used on its own.
"""
