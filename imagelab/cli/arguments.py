"""Command-line arguments: the parser, the argparse types and the flags every script shares.

Every flag is checked as it is parsed, before any data is read; a refusal is one line
on stderr that names the flag and the value typed, with exit status 2. The checks that
need the data (``FlagError``) end in the same line once it is read. Library functions
never see the parsed arguments: entry points pass them on as plain values.
"""
import argparse
import contextlib
import errno
import os
import signal
import sys

import numpy as np

from imagelab.utils.checks import CheckError, DataError, FlagError, check_float, check_int
from imagelab.data.registry import DATASETS, LAB_DATASET, OFFICIAL
from imagelab.data.cifar import data_root
from imagelab.nn.model_files import save_model_in
from imagelab.training.checkpoint import check_checkpoint, checkpoint_path
from imagelab.utils import files

# The exit status of a program stopped by a signal, as the shell reports it: 128 + number.
SIGNAL_STATUS = {signal.SIGINT: 130, signal.SIGTERM: 143}


class Stopped(BaseException):
    """Raised by the SIGTERM handler of ``stopped_by_signals`` (like KeyboardInterrupt,
    not an ``Exception``, so that no ``except Exception`` swallows it)."""


def _raise_stopped(signum, frame):
    raise Stopped


@contextlib.contextmanager
def stopped_by_signals(prog):
    """End the block on Ctrl-C (SIGINT) or SIGTERM with one line and status 130 or 143.

    The exception either signal raises unwinds the block, so every temporary file of
    ``imagelab.utils.files.write_atomic`` is removed on the way; the line names the
    files written whole before the signal.
    """
    written = len(files.WRITTEN)
    previous = signal.signal(signal.SIGTERM, _raise_stopped)
    try:
        yield
    except (KeyboardInterrupt, Stopped) as stop:
        number = signal.SIGINT if isinstance(stop, KeyboardInterrupt) else signal.SIGTERM
        saved = files.WRITTEN[written:]
        print(f"{prog}: stopped by {number.name}; "
              + (f"saved {', '.join(saved)}" if saved else "nothing saved")
              + ", no partial file left", file=sys.stderr)
        raise SystemExit(SIGNAL_STATUS[number]) from None
    finally:
        signal.signal(signal.SIGTERM, previous)


class ArgumentParser(argparse.ArgumentParser):
    """argparse's parser, but an error is a single line on stderr (no usage block), status 2."""

    def error(self, message):
        self.refuse(f"{message} (run with --help for usage)")

    def parse_args(self, args=None, namespace=None):
        """Parse as argparse does; a --split left out becomes the dataset's default.

        That is the dataset's record's ``default_split``: 0.9 of the pooled images for cifar10
        (the lab), the official training and test sets for the MNIST family.
        """
        parsed = super().parse_args(args, namespace)
        if "split" in vars(parsed) and parsed.split is None:
            parsed.split = DATASETS[parsed.dataset].default_split
        return parsed

    def refuse(self, message):
        """Print "<prog>: error: <message>" as one line on stderr and exit with status 2."""
        print(f"{self.prog}: error: {message}", file=sys.stderr)
        raise SystemExit(2)

    @contextlib.contextmanager
    def flag_errors(self):
        """End the run on an error the user can fix, raised in the block, with one line.

        A ``FlagError`` is refused as above (status 2); a ``DataError``, or the
        ImportError of an optional package (scikit-image), prints "error: <message>"
        (status 1). Ctrl-C and SIGTERM end it as ``stopped_by_signals`` says (130, 143).
        """
        try:
            with stopped_by_signals(self.prog):
                yield
        except FlagError as error:
            self.refuse(str(error))
        except (DataError, ImportError) as error:
            raise SystemExit(f"error: {error}") from error


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


def check_outputs(flag, folder, names):
    """Make ``folder`` if needed and check that it takes the files ``names``, before a run.

    Raises ``FlagError`` on ``flag`` (e.g. --results-dir) if it cannot: a folder that
    is not writable, or (on --name) a name too long for its file system, then ends the
    run in one line before it computes anything, not after hours of training.
    """
    try:
        files.check_writable(folder, names)
    except OSError as error:
        flag = "--name" if error.errno == errno.ENAMETOOLONG else flag
        raise FlagError(flag, f"cannot write {max(names, key=len)} in {folder} "
                              f"({error.strerror})") from error


@contextlib.contextmanager
def model_saved_first(model_dir, name, classifier, results_dir):
    """Save the trained model, then run the block that writes the results; a write that
    fails in either ends in one line naming where the model is.

    Checked before the training, the folders can still be lost or made read-only during
    it: the model is then saved in a temporary folder if need be, and an ``OSError``
    of the block becomes a ``FlagError`` on --results-dir, so that no trained model is
    ever lost to a traceback. Yields the model's path.
    """
    path, failure = files.save_here_or_elsewhere(
        lambda folder: save_model_in(folder, name, classifier), model_dir)
    print(f"saved {path}")
    try:
        yield path
    except OSError as error:
        raise FlagError("--results-dir", f"cannot write in {results_dir} ({error.strerror}); "
                                         f"the model is saved in {path}") from error
    if failure is not None:
        raise FlagError("--model-dir", f"cannot write in {model_dir} ({failure.strerror}); "
                                       f"the model is saved in {path}") from failure


def _checked(text, convert, check, **bounds):
    """``convert(text)``, passed through ``check`` (from ``imagelab.utils.checks``) with ``bounds``.

    A refusal quotes ``text`` as typed. A ValueError of ``convert`` reaches argparse,
    which says "invalid <type> value: '<text>'".
    """
    value = convert(text)
    try:
        return check(value, "value", **bounds)
    except CheckError as error:
        raise argparse.ArgumentTypeError(f"must be {error.expected}, got {text}") from None


def fraction(text):
    """argparse type: a float strictly between 0 and 1."""
    return _checked(text, float, check_float, min_value=0, max_value=1, include_min=False,
                    include_max=False)


def split(text):
    """argparse type: "official" (the dataset's own test set) or a fraction in (0, 1)."""
    return OFFICIAL if text == OFFICIAL else fraction(text)


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
    """argparse type: the folder of the datasets, given it or its ``cifar-10-batches-py``."""
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


def validated(parse):
    """argparse type that passes the text through ``parse``, whose ValueError refuses it.

    E.g. ``type=validated(descriptors.parse_feature_spec)``: the text is kept as typed.
    """
    def check(text):
        try:
            parse(text)
        except ValueError as error:
            raise argparse.ArgumentTypeError(str(error)) from error
        return text
    check.__name__ = parse.__name__
    return check


def add_results_arguments(parser, seed_help, base=os.curdir):
    """Add --results-dir and --seed, the flags of every command (``seed_help``: what it seeds).

    The default results folder is ``results`` in ``base`` (the current folder, or the
    clone's root for the lab's scripts).
    """
    parser.add_argument("--results-dir", type=results_folder,
                        default=os.path.join(base, "results"),
                        help="folder for the plots and the json file (default: results/, "
                             "whose committed files a run overwrites)")
    parser.add_argument("--seed", type=seed, default=0,
                        help=f"{seed_help}, so that a run can be repeated (default: 0)")


# The flags that leave a training's result as it is: a resumed run may change them.
RESUME_FREE = ("resume", "results_dir", "model_dir", "name", "data_dir", "no_download",
               "robustness")


def add_resume_argument(parser):
    """Add --resume, for the commands that save a checkpoint after each epoch."""
    parser.add_argument("--resume", action="store_true",
                        help="go on from <model-dir>/<name>.checkpoint.npz, saved after each "
                             "epoch by an interrupted run of the same flags")


def training_settings(args):
    """Flag -> value of every flag in ``args`` that changes a training's result: what a
    checkpoint keeps (``imagelab.training.checkpoint.Checkpoint``)."""
    return {"--" + key.replace("_", "-"): value for key, value in sorted(vars(args).items())
            if key not in RESUME_FREE}


def checked_checkpoint(args, name):
    """The path of the run's checkpoint, ``<model-dir>/<name>.checkpoint.npz``, after
    the checks that need no data.

    The model folder takes the model and the checkpoint (``check_outputs``), and the
    checkpoint is one --resume can go on from, or, without --resume, no unfinished
    run's (``imagelab.training.checkpoint.check_checkpoint``): each refusal is a
    ``FlagError``, raised before any data is read.
    """
    check_outputs("--model-dir", args.model_dir, [name + ".npz", name + ".checkpoint.npz"])
    path = checkpoint_path(args.model_dir, name)
    check_checkpoint(path, training_settings(args), args.resume)
    return path


def add_common_arguments(parser, base=os.curdir):
    """Add the flags that every command shares, with the lab's values as defaults.

    The default data and results folders are ``data`` and ``results`` in ``base``.
    """
    folders = ", ".join(record.folder for record in DATASETS.values())
    splits = "; ".join(f"{record.default_split} for {name}" for name, record in DATASETS.items())
    parser.add_argument("--dataset", choices=DATASETS, default=LAB_DATASET,
                        help=f"the images to classify (default: {LAB_DATASET}, the lab's)")
    parser.add_argument("--data-dir", type=data_folder, default=os.path.join(base, "data"),
                        help=f"folder holding the datasets' folders ({folders}; or "
                             "cifar-10-batches-py itself; default: data/); a missing dataset "
                             "is downloaded there")
    add_results_arguments(parser, "seed of the shuffle before the split and of any other "
                                  "randomness", base)
    parser.add_argument("--split", type=split, default=None,
                        help="fraction of all the images (training and test sets pooled, "
                             "shuffled) used for training, or 'official' for the dataset's "
                             f"own test set (default: {splits})")
    parser.add_argument("--no-download", action="store_true",
                        help="fail instead of downloading the dataset when it is missing")


def run_command(parse_arguments, run, argv=None):
    """Run a command: ``parse_arguments(argv)`` gives (parser, args), then ``run(args, argv)``.

    ``argv`` defaults to the process's flags; a ``FlagError`` (status 2) or a
    ``DataError`` (status 1) raised by ``run`` ends in one line, as does a signal
    (``ArgumentParser.flag_errors``).
    """
    argv = sys.argv[1:] if argv is None else argv
    parser, args = parse_arguments(argv)
    with parser.flag_errors():
        run(args, argv)
