"""Tests of ``imagelab classify`` on files from elsewhere: a model or an image out of
bounds is refused in one line on stderr, exit status 2, before anything large is read
or allocated, and nothing is written."""
import json
import re
import struct
import zlib

import numpy as np
import pytest
from PIL import Image, ImageFile

from conftest import run_command, snapshot
from imagelab.cli.classify import MAX_PIXELS
from imagelab.nn import model_files
from imagelab.nn.architectures import build
from imagelab.nn.model_files import Classifier, save_model

PROG = "imagelab classify"
SPEC = [["conv", 2, 3, 1, 1], ["relu"], ["pool", 2], ["flatten"], ["dense", 3]]


def saved_model(path, spec=SPEC, shape=(8, 8, 3), labels=("a", "b", "c")):
    network = build(spec, shape, seed=0)
    save_model(str(path), Classifier(network, spec, shape, np.full(shape[-1], 100, np.float32),
                                     np.full(shape[-1], 50, np.float32), labels))
    return str(path)


def an_image(path, size=(8, 8)):
    Image.fromarray(np.zeros((*size, 3), np.uint8)).save(path)
    return str(path)


def png_chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(
        ">I", zlib.crc32(kind + data))


def large_png(path, side, whole):
    """A side x side one-bit grey PNG of zeros, whole (the rows deflated as they are
    made, a few kB a megapixel) or its header alone (no image data)."""
    header = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    deflate, row, data = zlib.compressobj(9), bytes(1 + (side + 7) // 8), b""
    if whole:
        data = b"".join(deflate.compress(row * 1000) for _ in range(side // 1000))
    chunks = [b"\x89PNG\r\n\x1a\n", png_chunk(b"IHDR", header),
              png_chunk(b"IDAT", data + deflate.flush()), png_chunk(b"IEND", b"")]
    path.write_bytes(b"".join(chunks))
    return str(path)


def refused(tmp_path, *argv):
    """The stderr line of ``imagelab classify ARGV``, which must be a refusal that writes
    nothing."""
    before = snapshot(str(tmp_path))
    out = run_command("classify", *argv)
    assert out.returncode == 2 and out.stdout == "", out
    assert re.fullmatch(rf"{PROG}: error: [^\n]+\n", out.stderr), out.stderr
    assert snapshot(str(tmp_path)) == before
    return out.stderr


def test_a_good_model_classifies_as_before(tmp_path):
    out = run_command("classify", saved_model(tmp_path / "m.npz"), an_image(tmp_path / "x.png"))
    assert out.returncode == 0, out.stderr
    assert re.fullmatch(r".*x.png: [abc] \(\d+%\)\n", out.stdout)


def test_a_model_above_max_memory_is_refused_before_it_is_built(tmp_path, monkeypatch):
    # 4 MiB of weights (16 bytes each), and a forward pass of as many images as given.
    path = saved_model(tmp_path / "m.npz", [["flatten"], ["dense", 2**12], ["dense", 3]],
                       (8, 8, 1))
    image = an_image(tmp_path / "x.png")
    assert run_command("classify", path, image, "--max-memory", "5").returncode == 0
    monkeypatch.setattr(model_files, "build", lambda *a, **k: pytest.fail("built"))
    line = refused(tmp_path, path, image, "--max-memory", "4")
    assert re.fullmatch(rf"{PROG}: error: model file .*m.npz: its architecture needs about "
                        r"4.3 MiB \(278,531 weights, forward passes of batches of 1\), "
                        r"more than the limit of 4 MiB; --max-memory raises the limit\n",
                        line), line


def test_a_large_image_shape_is_refused_before_it_is_built(tmp_path, monkeypatch):
    # 20,000 x 20,000 images with valid weights: 4 G values a batch of 250.
    path = saved_model(tmp_path / "m.npz", [["conv", 2, 3, 1, 1], ["gmaxpool"]],
                       (20000, 20000, 3), ("a", "b"))
    monkeypatch.setattr(model_files, "build", lambda *a, **k: pytest.fail("built"))
    assert "more than the limit of 2,048 MiB" in refused(tmp_path, path,
                                                         an_image(tmp_path / "x.png"))


@pytest.mark.parametrize("change, message", [
    (lambda a: a["weight_0"].__setitem__((0, 0, 0, 0), np.nan),
     r"'weight_0' must hold finite values, got nan at index \(0, 0, 0, 0\)"),
    (lambda a: a.update(std=np.zeros(3, np.float32)),
     r"'std' must hold values > 0, got \[0. 0. 0.\]"),
    (lambda a: a.update(label_names=np.array(["a", "b"])),
     r"'label_names' has shape \(2,\), the architecture expects \(3,\)"),
    (lambda a: a.update(mean=np.zeros(7, np.float32)),
     r"'mean' has shape \(7,\), the architecture expects \(3,\)"),
    (lambda a: a.update(architecture=np.array("[" * 100000 + "]" * 100000)),
     r"'architecture' nests 100000 levels deep, at most 4 expected"),
    (lambda a: a.update(architecture=np.array(json.dumps([["conv", 100000, 50, 1, 0]]))),
     r"its architecture does not build .*c_out must be an integer in \[1, 65536\], "
     r"got 100000\)"),
])
def test_an_inconsistent_model_file_is_one_line(tmp_path, change, message):
    with np.load(saved_model(tmp_path / "good.npz")) as content:
        arrays = {key: content[key] for key in content.files}
    change(arrays)
    np.savez(tmp_path / "bad.npz", **arrays)
    line = refused(tmp_path, str(tmp_path / "bad.npz"), an_image(tmp_path / "x.png"))
    assert re.fullmatch(rf"{PROG}: error: model file .*bad.npz: {message}\n", line), line


def test_a_model_for_other_than_grey_or_colour_images_is_refused(tmp_path):
    path = saved_model(tmp_path / "m.npz", shape=(8, 8, 2))
    line = refused(tmp_path, path, an_image(tmp_path / "x.png"))
    assert line.endswith("'image_shape' must end in 1 (grey) or 3 (colour) channels for "
                         "image files, got (8, 8, 2)\n")


@pytest.mark.parametrize("side, whole", [(20000, False), (20000, True), (8000, False)])
def test_a_large_image_is_refused_from_its_header(tmp_path, monkeypatch, side, whole):
    # 400 megapixels are beyond Pillow's own limit, 64 between ours and Pillow's.
    image = large_png(tmp_path / "large.png", side, whole)
    monkeypatch.setattr(ImageFile.ImageFile, "load", lambda self: pytest.fail("decoded"))
    line = refused(tmp_path, saved_model(tmp_path / "m.npz"), image)
    assert f"more than the limit of {MAX_PIXELS:,}" in line and "large.png" in line


def test_robustness_refuses_a_bad_model_in_one_line_before_the_data(folders, tmp_path):
    with np.load(saved_model(tmp_path / "good.npz")) as content:
        arrays = {key: content[key] for key in content.files}
    np.savez(tmp_path / "bad.npz", **{**arrays, "std": np.zeros(3, np.float32)})
    before = snapshot(*folders)
    out = run_command("robustness", "--data-dir", folders[0], "--results-dir", folders[1],
                      "--no-download", str(tmp_path / "bad.npz"))
    assert out.returncode == 2
    assert re.fullmatch(r"imagelab robustness: error: model file .*bad.npz: 'std' must hold "
                        r"values > 0, got \[0. 0. 0.\]\n", out.stderr), out.stderr
    assert snapshot(*folders) == before
