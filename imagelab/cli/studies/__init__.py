"""One module per study of ``imagelab study NAME`` (the table is ``imagelab.cli.study``).

``add_study_arguments`` gives every study the same flags: Fashion-MNIST by default, its
official training and test sets, the data and results folders, the seed.
"""
from imagelab.cli.arguments import add_common_arguments


def add_study_arguments(parser, dataset="fashion-mnist"):
    """The flags every study shares (``add_common_arguments``): ``dataset`` by default,
    and its official training and test sets."""
    add_common_arguments(parser)
    parser.set_defaults(dataset=dataset, split="official")
