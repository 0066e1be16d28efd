"""What the command lines of knn.py and mlp.py share: arguments, data and result files.

Every flag is checked as it is parsed, before any data is read; a refusal is one line
on stderr that names the flag and the value typed, with exit status 2. The checks that
need the data (``FlagError``) end in the same line once it is read.
"""
import argparse
import contextlib
import json
import os
import sys

import numpy as np

from imagelab.checks import check_float, check_int
from read_cifar import BATCH_FOLDER, data_root, ensure_cifar, read_cifar, split_dataset

ROOT = os.path.dirname(os.path.abspath(__file__))


class ArgumentParser(argparse.ArgumentParser):
    """argparse's parser, but an error is a single line on stderr (no usage block), status 2."""

    def error(self, message):
        self.refuse(f"{message} (run with --help for usage)")

    def refuse(self, message):
        """Print "<prog>: error: <message>" as one line on stderr and exit with status 2."""
        print(f"{self.prog}: error: {message}", file=sys.stderr)
        raise SystemExit(2)

    @contextlib.contextmanager
    def flag_errors(self):
        """Refuse, as above, a ``FlagError`` raised in the block."""
        try:
            yield
        except FlagError as error:
            self.refuse(str(error))


class FlagError(Exception):
    """A flag's value that the data refuses, e.g. ``--k-max`` above the training size.

    ``ArgumentParser.flag_errors`` reports it in one line, like a bad flag.
    """

    def __init__(self, flag, message):
        super().__init__(f"argument {flag}: {message}")


def refuse_above(flag, value, limit, limit_is):
    """Raise ``FlagError`` if ``value`` exceeds ``limit``; ``limit_is`` says what it counts."""
    if value > limit:
        raise FlagError(flag, f"must be at most {limit}, {limit_is}, got {value}")


@contextlib.contextmanager
def stop_if_diverging(learning_rate):
    """Stop a training whose numbers overflow (the loss is then no longer finite).

    NumPy's overflow, invalid-value and division warnings become errors in the block,
    and the first one a ``FlagError`` on ``--learning-rate``: no result holds NaN.
    """
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        try:
            yield
        except FloatingPointError as error:
            raise FlagError("--learning-rate", f"the training diverged ({error}; the loss is "
                            f"no longer finite): try a smaller learning rate than "
                            f"{learning_rate:g}") from error


def _checked(text, convert, check, **bounds):
    """``convert(text)``, passed through ``check`` (from ``imagelab.checks``) with ``bounds``.

    A refusal quotes ``text`` as typed. A ValueError of ``convert`` reaches argparse,
    which says "invalid <type> value: '<text>'".
    """
    value = convert(text)
    try:
        return check(value, "value", **bounds)
    except ValueError as error:             # "value must be <expected>, got <value>"
        expected = str(error).split(" must be ", 1)[1].rpartition(", got ")[0]
        raise argparse.ArgumentTypeError(f"must be {expected}, got {text}") from None


def fraction(text):
    """argparse type: a float strictly between 0 and 1."""
    return _checked(text, float, check_float, min_value=0, max_value=1, include_min=False,
                    include_max=False)


def rate(text):
    """argparse type: a float in [0, 1) (a dropout rate, a momentum)."""
    return _checked(text, float, check_float, min_value=0, max_value=1, include_max=False)


def positive_float(text):
    """argparse type: a finite float > 0 (a learning rate)."""
    return _checked(text, float, check_float, min_value=0, include_min=False)


def non_negative_float(text):
    """argparse type: a finite float >= 0 (a penalty factor)."""
    return _checked(text, float, check_float, min_value=0)


def positive_int(text):
    """argparse type: an integer >= 1."""
    return _checked(text, int, check_int, min_value=1)


def fold_count(text):
    """argparse type: an integer >= 2 (a number of cross-validation folds)."""
    return _checked(text, int, check_int, min_value=2)


def seed(text):
    """argparse type: an integer >= 0, any size (a seed of ``np.random.default_rng``)."""
    return _checked(text, int, check_int, min_value=0)


def _folder(text, writable):
    """``text`` if it is, or could be created as, a folder (``writable``: by this user)."""
    existing = os.path.abspath(text)
    while not os.path.exists(existing):      # the part of the path that exists
        existing = os.path.dirname(existing)
    if not os.path.isdir(existing):
        where = "a file" if existing == os.path.abspath(text) else f"{existing} is a file"
        raise argparse.ArgumentTypeError(f"must be a folder, got {text} ({where})")
    if writable and not os.access(existing, os.W_OK | os.X_OK):
        raise argparse.ArgumentTypeError(f"must be a folder you can write to, got {text} "
                                         f"({existing} is not writable)")
    return text


def data_folder(text):
    """argparse type: the folder holding ``cifar-10-batches-py``, given it or that folder."""
    return data_root(_folder(text, writable=False))


def results_folder(text):
    """argparse type: a folder that exists and can be written, or can be created."""
    return _folder(text, writable=True)


def file_stem(text):
    """argparse type: a file name without folder or extension, e.g. "mlp_best"."""
    if not text or text.startswith(".") or os.sep in text or "/" in text:
        raise argparse.ArgumentTypeError(f"must be a file name without a folder, not "
                                         f"starting with '.', got '{text}'")
    return text


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
    parser.add_argument("--data-dir", type=data_folder, default=os.path.join(ROOT, "data"),
                        help="folder holding cifar-10-batches-py, or that folder itself "
                             "(default: data/ beside this file); downloaded there if missing")
    parser.add_argument("--results-dir", type=results_folder,
                        default=os.path.join(ROOT, "results"),
                        help="folder for the plot and the json file (default: results/, "
                             "whose committed files a run overwrites)")
    parser.add_argument("--split", type=fraction, default=0.9,
                        help="fraction of the 60,000 images used for training (default: 0.9)")
    parser.add_argument("--seed", type=seed, default=0,
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
    FlagError
        If ``args.split`` leaves no row on one side (checked before any description).
    """
    try:
        data, labels = read_cifar(ensure_cifar(args.data_dir, download=not args.no_download))
    except (OSError, ValueError) as error:   # data missing, corrupt or not downloadable
        raise SystemExit(f"error: {error}") from error   # a message, not a traceback
    try:                                     # rows first: refuse a bad split at once
        train, labels_train, test, labels_test = split_dataset(
            np.arange(len(labels)), labels, args.split, seed=args.seed)
    except ValueError as error:
        raise FlagError("--split", f"must leave images on both sides of the {len(labels)} "
                                   f"images, got {args.split}") from error
    if features not in (None, "raw"):
        from descriptors import describe   # here: descriptors imports this module
        try:
            data = describe(data, features, progress=True,
                            cache_dir=os.path.join(args.data_dir, "features"))
        except ImportError as error:       # scikit-image missing: say how to install it
            raise SystemExit(f"error: {error}") from error
    return data[train], labels_train, data[test], labels_test


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

    Each file is written whole or not at all (see ``_write_atomic``), and neither if
    ``record`` is not strict JSON (NaN, Infinity or another type: ValueError or
    TypeError). A ``note``
    (e.g. ``data_note(data_dir)``) is printed under the figure and kept in the record.
    """
    if note:
        record = {**record, "note": note}
    # Strict JSON, checked before anything is written: NaN or Infinity raise ValueError.
    text = json.dumps(record, indent=2, allow_nan=False).encode() + b"\n"
    if note:
        figure.text(0.01, 0.01, note, fontsize=7, color="dimgray")
        figure.tight_layout(rect=(0, 0.03, 1, 1))
    os.makedirs(results_dir, exist_ok=True)
    png, js = (os.path.join(results_dir, name + ext) for ext in (".png", ".json"))
    _write_atomic(png, lambda f: figure.savefig(f, format="png", dpi=120))
    _write_atomic(js, lambda f: f.write(text))
    print(f"saved {png} and {js}")
