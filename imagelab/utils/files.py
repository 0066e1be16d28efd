"""Result files: written whole or not at all, JSON strict, with the data's provenance note.

Every figure and record the project publishes goes through ``save_results`` (a plot
and its numbers) or ``save_figure`` (a figure alone), so no reader ever meets a
half-written file, a NaN in a JSON file, or a figure without its footnote.
"""
import json
import os
import tempfile

# Every path write_atomic has completed in this process, in order (what an interrupted
# command reports as saved).
WRITTEN = []


def temporary_path(path):
    """The temporary file ``write_atomic`` writes before renaming it to ``path``.

    A name of our own in the same folder (so the rename stays atomic): ``.<name>.<pid>.tmp``.
    """
    folder, name = os.path.split(path)
    return os.path.join(folder, f".{name}.{os.getpid()}.tmp")


def write_atomic(path, write):
    """Call ``write(file)`` on a temporary file, then rename it to ``path``.

    The rename is atomic, so ``path`` holds either its old content or the whole new
    one, never a half-written file; the temporary file is removed whatever stops the
    write (an error, Ctrl-C, any exception raised by a signal handler). ``path`` is
    then added to ``WRITTEN``.
    """
    temporary = temporary_path(path)
    # plain open() gives the file the user's usual permissions, where mkstemp would make
    # it private.
    try:
        with open(temporary, "wb") as f:
            write(f)
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise
    WRITTEN.append(path)


def save_here_or_elsewhere(save, folder):
    """``save(folder)``, or, if that fails, ``save`` in a new temporary folder.

    For what must not be lost (a trained model, a training's checkpoint) when its
    folder is lost or made read-only during a long run.

    Parameters
    ----------
    save : callable folder -> path
        Writes the file in the folder it is given and returns its path.
    folder : str

    Returns
    -------
    path : str
        Where the file is.
    failure : OSError or None
        Why it is not in ``folder``.
    """
    try:
        return save(folder), None
    except OSError as error:
        return save(tempfile.mkdtemp(prefix="imagelab-")), error


def check_writable(folder, names):
    """Make ``folder`` if needed and check that the files ``names`` can be written in it.

    The temporary file of the longest name (see ``temporary_path``) is created and
    removed: a folder that cannot be written, or a name too long for its file system,
    fails here, before any long computation, rather than after it.

    Raises
    ------
    OSError
        The folder cannot be made, or the file cannot be created there.
    """
    os.makedirs(folder, exist_ok=True)
    probe = temporary_path(os.path.join(folder, max(names, key=len)))
    with open(probe, "xb"):
        pass
    os.unlink(probe)


def save_results(results_dir, name, figure, record, note="", figure_name=None):
    """Save ``figure`` as ``<name>.png`` and ``record`` as ``<name>.json`` in ``results_dir``.

    ``figure_name`` gives the figure another stem (``<figure_name>.png``).

    Each file is written whole or not at all (see ``write_atomic``), and neither if
    ``record`` is not strict JSON (NaN, Infinity or another type: ValueError or
    TypeError). A ``note`` (e.g. ``imagelab.data.splits.data_note(data_dir)``) is printed
    under the figure and kept in the record. ``figure_name`` names the figure's file
    instead of ``name`` (e.g. "numpy_nn_training" beside "numpy_nn.json").
    """
    if note:
        record = {**record, "note": note}
    # Strict JSON, checked before anything is written: NaN or Infinity raise ValueError.
    text = json.dumps(record, indent=2, allow_nan=False).encode() + b"\n"
    add_note(figure, note)
    save_figure(results_dir, name if figure_name is None else figure_name, figure)
    path = os.path.join(results_dir, name + ".json")
    write_atomic(path, lambda f: f.write(text))
    print(f"saved {path}")


def add_note(figure, note):
    """Print ``note`` (if not empty) under ``figure``, small and grey, as every result does."""
    if note:
        figure.text(0.01, 0.01, note, fontsize=7, color="dimgray")
        figure.tight_layout(rect=(0, 0.03, 1, 1))


def save_figure(results_dir, name, figure):
    """Write ``figure`` to ``<results_dir>/<name>.png`` atomically; return the path."""
    os.makedirs(results_dir, exist_ok=True)
    path = os.path.join(results_dir, name + ".png")
    write_atomic(path, lambda f: figure.savefig(f, format="png", dpi=120))
    print(f"saved {path}")
    return path
