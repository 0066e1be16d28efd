"""The commands: ``imagelab COMMAND [flags]`` or ``python -m imagelab COMMAND [flags]``.

Each command is one module of this package with a ``main(argv)``: it parses its flags,
calls library functions that take arrays, plots and saves. ``COMMANDS`` is the table
that ``imagelab --help`` prints; a new command is one module and one row here.
"""
import importlib
import sys

# name -> (module under imagelab.cli, what it does in one line)
COMMANDS = {
    "knn": ("knn", "the lab's kNN: test accuracy for k = 1..20 (python knn.py)"),
    "mlp": ("mlp", "the lab's one-hidden-layer MLP trained with its settings (python mlp.py)"),
    "knn-study": ("knn_study", "kNN on descriptors, k chosen by cross-validation, figures"),
    "mlp-study": ("mlp_study", "the lab's MLP on image descriptors"),
    "train-mlp": ("train_mlp", "a deeper MLP by mini-batches: optimizers, dropout, early stopping"),
    "numpy-nn": ("numpy_nn", "the NumPy-layers handout: a two-class network on MNIST-like data"),
    "toy": ("toy", "small MLPs on toy 2-D sets, with their confidence maps"),
    "framework": ("framework", "the autograd framework's tasks: toy sets, MNIST-like data"),
    "train-cnn": ("train_cnn", "a convolutional network (LeNet, conv4), saved as a model file"),
    "train-recipe": ("train_recipe", "the fast CIFAR-10 recipe (airbench94 in NumPy)"),
    "ablation": ("ablation", "the fast recipe with each ingredient removed in turn"),
    "classify": ("classify", "classify image files with a saved model"),
    "robustness": ("robustness", "saved models tested on brighter, darker, flatter images"),
    "study": ("study", "the research studies: what the networks learned (imagelab study --help)"),
}


def usage():
    """The text of ``imagelab --help``: one line per command."""
    width = max(map(len, COMMANDS))
    lines = ["usage: imagelab COMMAND [flags]   (imagelab COMMAND --help for its flags)", "",
             "commands:"]
    lines += [f"  {name:<{width}}  {summary}" for name, (_, summary) in COMMANDS.items()]
    return "\n".join(lines)


def main(argv=None):
    """Run ``imagelab COMMAND [flags]``: the command's ``main`` with the remaining flags."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(usage())
        return
    name, flags = argv[0], argv[1:]
    if name not in COMMANDS:
        print(f"imagelab: unknown command {name!r} (choose from {', '.join(COMMANDS)}; "
              "run imagelab --help)", file=sys.stderr)
        sys.exit(2)
    module = importlib.import_module(f"imagelab.cli.{COMMANDS[name][0]}")
    module.main(flags)
