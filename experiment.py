"""What the command lines of knn.py and mlp.py share: arguments, data and result files."""
import argparse
import json
import os

from read_cifar import BATCH_FOLDER, ensure_cifar, read_cifar, split_dataset

ROOT = os.path.dirname(os.path.abspath(__file__))


def fraction(text):
    """argparse type: a float strictly between 0 and 1."""
    value = float(text)
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"must be strictly between 0 and 1, got {text}")
    return value


def positive_int(text):
    """argparse type: an integer >= 1."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1, got {text}")
    return value


def feature_spec(text):
    """argparse type: "raw" (the pixels) or a descriptor spec such as "hog+color"."""
    if text == "raw":
        return text
    from descriptors import parse_spec     # here: descriptors imports this module
    try:
        parse_spec(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from error
    return text


def result_name(prefix, features):
    """File name (no extension) of a result: ``prefix`` then the representation.

    None or "raw" add nothing; a spec adds "_<spec>" with characters other than
    letters, digits, "+", "-", "." and "_" replaced by "_".
    """
    if features in (None, "raw"):
        return prefix
    return prefix + "_" + "".join(c if c.isalnum() or c in "+-._" else "_" for c in features)


def add_common_arguments(parser):
    """Add the flags that knn.py and mlp.py share, with the lab's values as defaults."""
    parser.add_argument("--data-dir", default=os.path.join(ROOT, "data"),
                        help="folder holding cifar-10-batches-py (default: data/ beside "
                             "this file); downloaded there if missing")
    parser.add_argument("--results-dir", default=os.path.join(ROOT, "results"),
                        help="folder for the plot and the json file (default: results/)")
    parser.add_argument("--split", type=fraction, default=0.9,
                        help="fraction of the 60,000 images used for training (default: 0.9)")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of the shuffle before the split and of any other "
                             "randomness, so that a run can be repeated (default: 0)")
    parser.add_argument("--no-download", action="store_true",
                        help="fail instead of downloading CIFAR-10 when it is missing")


def load_split(args, features=None):
    """Read CIFAR-10 (downloading it unless --no-download) and split it as the flags say.

    Parameters
    ----------
    args : argparse.Namespace
        With the flags of ``add_common_arguments``.
    features : str, optional
        A descriptor spec (``descriptors.parse_spec``), e.g. "hog+color"; None or
        "raw" keeps the pixels. All 60,000 images are described before the split
        (cached under ``<data-dir>/features``), so a seed gives the same rows in
        each set whatever the representation.

    Returns
    -------
    data_train, labels_train, data_test, labels_test
        As ``read_cifar.split_dataset`` returns them.

    Raises
    ------
    SystemExit
        With the error's message (no traceback) if the data is missing, corrupt or
        cannot be downloaded.
    """
    try:
        data, labels = read_cifar(ensure_cifar(args.data_dir, download=not args.no_download))
    except (OSError, ValueError) as error:   # data missing, corrupt or not downloadable
        raise SystemExit(f"error: {error}") from error   # a message, not a traceback
    if features not in (None, "raw"):
        from descriptors import describe   # here: descriptors imports this module
        try:
            data = describe(data, features, progress=True,
                            cache_dir=os.path.join(args.data_dir, "features"))
        except ImportError as error:       # scikit-image missing: say how to install it
            raise SystemExit(f"error: {error}") from error
    return split_dataset(data, labels, args.split, seed=args.seed)


def data_note(data_dir):
    """A footnote for figures made from batches that are not the official pixels.

    The ``readme.html`` of a batch folder says where it comes from: the copy these
    machines build (``../shared/cifar10``) says its images went through JPEG once,
    which changes accuracies slightly. Returns "" for the official files.
    """
    try:
        with open(os.path.join(data_dir, BATCH_FOLDER, "readme.html"), encoding="utf-8") as f:
            jpeg = "JPEG" in f.read()
    except OSError:
        return ""
    return ("Images rebuilt from a JPEG copy of CIFAR-10: accuracies differ slightly "
            "from the official files." if jpeg else "")


def _write_atomic(path, write):
    """Call ``write(file)`` on a temporary file, then rename it to ``path``.

    The rename is atomic, so ``path`` holds either its old content or the whole new
    one, never a half-written file.
    """
    folder, name = os.path.split(path)
    # A name of our own in the same folder (so the rename stays atomic); plain open()
    # gives the file the user's usual permissions, where mkstemp would make it private.
    temporary = os.path.join(folder, f".{name}.{os.getpid()}.tmp")
    try:
        with open(temporary, "wb") as f:
            write(f)
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise


def save_results(results_dir, name, figure, record, note=""):
    """Save ``figure`` as ``<name>.png`` and ``record`` as ``<name>.json`` in ``results_dir``.

    Each file is written whole or not at all (see ``_write_atomic``). A ``note``
    (e.g. ``data_note(data_dir)``) is printed under the figure and kept in the record.
    """
    if note:
        figure.text(0.01, 0.01, note, fontsize=7, color="dimgray")
        figure.tight_layout(rect=(0, 0.03, 1, 1))
        record = {**record, "note": note}
    os.makedirs(results_dir, exist_ok=True)
    png, js = (os.path.join(results_dir, name + ext) for ext in (".png", ".json"))
    _write_atomic(png, lambda f: figure.savefig(f, format="png", dpi=120))
    _write_atomic(js, lambda f: f.write(json.dumps(record, indent=2).encode() + b"\n"))
    print(f"saved {png} and {js}")
