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


def table_usage(prog, words, table):
    """The text of ``<prog> --help``: a usage line, then one line per row of ``table``
    (name -> (module, summary)); ``words``, what a row is, singular and plural."""
    width = max(map(len, table))
    word = words[0].upper()
    lines = [f"usage: {prog} {word} [flags]   ({prog} {word} --help for its flags)", "",
             f"{words[1]}:"]
    lines += [f"  {name:<{width}}  {summary}" for name, (_, summary) in table.items()]
    return "\n".join(lines)


def run_from_table(prog, words, table, package, argv):
    """Run ``<prog> NAME [flags]``: ``main(flags)`` of the module of row NAME of ``table``
    in ``package``; --help (status 0) or an unknown NAME (status 2) print and stop."""
    if not argv or argv[0] in ("-h", "--help"):
        print(table_usage(prog, words, table))
        sys.exit(0)
    name, flags = argv[0], argv[1:]
    if name not in table:
        print(f"{prog}: unknown {words[0]} {name!r} (choose from {', '.join(table)}; "
              f"run {prog} --help)", file=sys.stderr)
        sys.exit(2)
    importlib.import_module(f"{package}.{table[name][0]}").main(flags)


def main(argv=None):
    """Run ``imagelab COMMAND [flags]``: the command's ``main`` with the remaining flags."""
    run_from_table("imagelab", ("command", "commands"), COMMANDS, "imagelab.cli",
                   sys.argv[1:] if argv is None else list(argv))
