"""One module per study of ``imagelab study NAME`` (the table is ``imagelab.cli.study``).

``add_study_arguments`` gives every study the same flags: Fashion-MNIST by default, its
official training and test sets, the data and results folders, the seed.
"""
from imagelab.cli.arguments import add_common_arguments, positive_int


def add_study_arguments(parser, dataset="fashion-mnist"):
    """The flags every study shares (``add_common_arguments``): ``dataset`` by default,
    and its official training and test sets."""
    add_common_arguments(parser)
    parser.set_defaults(dataset=dataset, split="official")


def add_seeds_argument(parser, what, seeds=3):
    """Add --seeds: how many runs of each ``what``, of seeds --seed, --seed + 1, ...
    (their spread tells which differences are real)."""
    parser.add_argument("--seeds", type=positive_int, default=seeds,
                        help=f"runs of each {what}, seeds --seed, --seed + 1, ... "
                             f"(default: {seeds})")


def add_training_arguments(parser, what, epochs, seeds=3, epochs_note=""):
    """Add --seeds (``add_seeds_argument``) and --epochs (of each training, with
    ``epochs_note`` said after it in the help), with these defaults."""
    add_seeds_argument(parser, what, seeds)
    parser.add_argument("--epochs", type=positive_int, default=epochs,
                        help=f"epochs of each training{epochs_note} (default: {epochs})")
