"""The lab's one-hidden-layer MLP: ``learn_once_mse``, ``one_hot``,
``learn_once_cross_entropy``, ``train_mlp``, ``test_mlp``, ``run_mlp_training``.

The functions live in ``imagelab.classic.mlp`` (``one_hot`` in ``imagelab.nn.functional``);
this file keeps the names the lab's handout asks for, and ``python mlp.py`` trains
the network with the lab's settings and plots its accuracy into ``results/mlp.png``
(``python mlp.py --help``).
"""
import os

from imagelab.classic.mlp import (learn_once_cross_entropy, learn_once_mse, run_mlp_training,
                                  test_mlp, train_mlp)
from imagelab.cli import mlp as command
from imagelab.nn.functional import one_hot

__all__ = ["learn_once_mse", "one_hot", "learn_once_cross_entropy", "train_mlp", "test_mlp",
           "run_mlp_training"]

if __name__ == "__main__":
    # Relative to this file, so that the results land in the clone's results/ folder.
    command.main(base=os.path.dirname(os.path.abspath(__file__)), prog="mlp.py")
