"""The research studies: ``imagelab study NAME [flags]``.

Each study is one module of ``imagelab.cli.studies`` with a ``main(argv)``: it trains the
networks it looks at (or loads saved ones), calls the library functions of
``imagelab.analysis`` that take arrays, and writes its figures and one JSON file of every
number it reports into ``--results-dir``. ``STUDIES`` is the table that
``imagelab study --help`` prints; a new study is one module and one row here.
"""
import sys

from imagelab.cli import run_from_table

# name -> (module under imagelab.cli.studies, what it shows in one line)
STUDIES = {
    "embeddings": ("embeddings", "2-D t-SNE maps of pixels, hidden layers and logits"),
    "adversarial": ("adversarial", "FGSM and iterated attacks, transfer, adversarial training"),
    "gradients": ("gradients", "input-gradient maps and first-layer weights as images"),
    "augmentation": ("augmentation", "noise, shifts, rotations, flips for the MLP"),
    "edges": ("edges", "an MLP that draws Canny edge masks, one sigmoid per pixel"),
    "transfer": ("transfer", "an auto-encoder's features under a new head, few labels"),
    "imbalance": ("imbalance", "rare classes: oversampling, class weights, focal loss"),
}


def main(argv=None):
    """Run ``imagelab study NAME [flags]``: the study's ``main`` with the remaining flags."""
    run_from_table("imagelab study", ("study", "studies"), STUDIES, "imagelab.cli.studies",
                   sys.argv[1:] if argv is None else list(argv))
