"""Tests of imagelab.utils.files: result files written whole or not at all, strict JSON, the
provenance note and the users' usual permissions."""
import json
import os

import pytest
from matplotlib.figure import Figure

from conftest import PNG_SIGNATURE, is_png
from imagelab.utils.files import save_figure, save_results, write_atomic


def small_figure():
    figure = Figure(figsize=(2, 2))
    figure.add_subplot().plot([1, 2, 3], [0.3, 0.2, 0.25])
    return figure


def test_save_results_writes_both_files(tmp_path):
    results = tmp_path / "results" / "run"  # created on the way
    record = {"k": [1, 2, 3], "accuracy": [0.3, 0.2, 0.25], "split": 0.9}

    save_results(str(results), "knn", small_figure(), record)

    assert sorted(os.listdir(results)) == ["knn.json", "knn.png"]  # no temporary file left
    assert json.loads((results / "knn.json").read_text()) == record
    png = (results / "knn.png").read_bytes()
    assert png.startswith(PNG_SIGNATURE)
    assert b"IEND" in png[-12:]  # the PNG's last chunk: the file is whole


def test_save_results_replaces_old_files(tmp_path):
    save_results(str(tmp_path), "mlp", small_figure(), {"run": 1})
    save_results(str(tmp_path), "mlp", small_figure(), {"run": 2})
    assert json.loads((tmp_path / "mlp.json").read_text()) == {"run": 2}
    assert sorted(os.listdir(tmp_path)) == ["mlp.json", "mlp.png"]


class BrokenFigure:
    """A figure whose savefig writes part of a file, then fails (a full disk, say)."""

    def savefig(self, f, **kwargs):
        f.write(PNG_SIGNATURE + b"half an image")
        raise OSError("No space left on device")


def test_failed_write_keeps_the_old_files(tmp_path):
    save_results(str(tmp_path), "knn", small_figure(), {"run": 1})
    old = {name: (tmp_path / name).read_bytes() for name in ("knn.png", "knn.json")}

    with pytest.raises(OSError, match="No space left"):
        save_results(str(tmp_path), "knn", BrokenFigure(), {"run": 2})

    assert {name: (tmp_path / name).read_bytes() for name in old} == old
    assert sorted(os.listdir(tmp_path)) == ["knn.json", "knn.png"]  # no temporary file


def test_failed_write_leaves_no_file_when_there_was_none(tmp_path):
    with pytest.raises(OSError):
        save_results(str(tmp_path), "knn", BrokenFigure(), {"run": 1})
    assert os.listdir(tmp_path) == []


def test_unserializable_record_keeps_the_old_json(tmp_path):
    save_results(str(tmp_path), "knn", small_figure(), {"run": 1})
    old = (tmp_path / "knn.json").read_bytes()
    with pytest.raises(TypeError):
        save_results(str(tmp_path), "knn", small_figure(), {"run": {1, 2}})
    assert (tmp_path / "knn.json").read_bytes() == old
    assert sorted(os.listdir(tmp_path)) == ["knn.json", "knn.png"]


def test_write_atomic_cleans_up_after_an_interrupt(tmp_path):
    path = tmp_path / "out.json"
    path.write_bytes(b"old")

    def interrupted(f):
        f.write(b"new, but only ha")
        raise KeyboardInterrupt  # Ctrl-C in the middle of a write

    with pytest.raises(KeyboardInterrupt):
        write_atomic(str(path), interrupted)
    assert path.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["out.json"]


def test_write_atomic_writes_the_whole_content(tmp_path):
    path = tmp_path / "out.bin"
    write_atomic(str(path), lambda f: f.write(b"x" * 100_000))
    assert path.read_bytes() == b"x" * 100_000
    assert os.listdir(tmp_path) == ["out.bin"]


def test_save_results_keeps_the_note(tmp_path):
    note = "Images rebuilt from a JPEG copy"
    save_results(str(tmp_path), "knn", small_figure(), {"k": [1]}, note=note)
    assert json.loads((tmp_path / "knn.json").read_text()) == {"k": [1], "note": note}
    assert (tmp_path / "knn.png").read_bytes().startswith(PNG_SIGNATURE)


def test_result_files_get_the_users_usual_permissions(tmp_path):
    umask = os.umask(0)
    os.umask(umask)
    path = tmp_path / "out.json"
    write_atomic(str(path), lambda f: f.write(b"{}"))
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf")])
def test_save_results_writes_no_nan_or_infinity(tmp_path, value):
    save_results(str(tmp_path), "knn", small_figure(), {"run": 1})
    old = {name: (tmp_path / name).read_bytes() for name in ("knn.png", "knn.json")}
    with pytest.raises(ValueError, match="not JSON compliant"):
        save_results(str(tmp_path), "knn", small_figure(), {"accuracy": [0.5, value]})
    assert {name: (tmp_path / name).read_bytes() for name in old} == old   # png too
    assert sorted(os.listdir(tmp_path)) == ["knn.json", "knn.png"]



def test_save_figure_writes_a_png_and_returns_its_path(tmp_path):
    folder = tmp_path / "new"                          # created on the way
    path = save_figure(str(folder), "curve", small_figure())
    assert path == str(folder / "curve.png") and is_png(path)
    assert os.listdir(folder) == ["curve.png"]
