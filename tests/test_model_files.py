"""Tests of imagelab.nn.model_files: a saved model classifies as the trained one did, and a
file that is not one of ours (object arrays, missing keys, wrong shapes, not an .npz)
is refused in one line that names the file."""
import io
import json
import struct
import tracemalloc
import zipfile

import numpy as np
import pytest

from imagelab.nn import model_files
from imagelab.nn.architectures import airbench, build, conv4, footprint, lenet
from imagelab.nn.model_files import (BATCH_SIZE, FORMAT, Classifier, TooLarge, load_model,
                                     save_model)

SPEC = [["conv", 4, 3, 1, 1], ["bn"], ["relu"], ["pool", 2], ["flatten"], ["dense", 3]]
SHAPE = (6, 6, 2)


def trained_classifier(seed=0):
    network = build(SPEC, SHAPE, seed=seed)
    rng = np.random.default_rng(seed)
    network.forward(rng.normal(size=(8, *SHAPE)).astype(np.float32), training=True)  # moves BN
    return Classifier(network, SPEC, SHAPE, np.array([10, 20], np.float32),
                      np.array([2, 4], np.float32), ["a", "b", "c"])


def images(n=5, seed=1):
    return np.random.default_rng(seed).integers(0, 256, size=(n, *SHAPE), dtype=np.uint8)


def test_a_saved_model_gives_the_same_logits(tmp_path):
    classifier = trained_classifier()
    path = str(tmp_path / "model.npz")
    save_model(path, classifier)
    loaded = load_model(path)
    np.testing.assert_array_equal(loaded.logits(images()), classifier.logits(images()))
    assert loaded.label_names == ("a", "b", "c") and loaded.image_shape == SHAPE
    assert loaded.architecture == SPEC
    labels = loaded.classify(images())
    assert labels.dtype == np.int64 and labels.shape == (5,)
    np.testing.assert_array_equal(loaded.network.buffers()[0],
                                  classifier.network.buffers()[0])   # running statistics


def test_an_airbench_network_round_trips(tmp_path):
    # Options in its spec (dicts), layers without bias or gamma: fewer arrays, same logits.
    spec, shape = airbench(3, widths=(4, 8, 8), whiten_width=6), (32, 32, 3)
    network = build(spec, shape, seed=0)
    rng = np.random.default_rng(2)
    network.forward(rng.normal(size=(4, *shape)).astype(np.float32), training=True)
    classifier = Classifier(network, spec, shape, np.full(3, 120, np.float32),
                            np.full(3, 60, np.float32), ["a", "b", "c"])
    path = str(tmp_path / "airbench.npz")
    save_model(path, classifier)
    loaded = load_model(path)
    assert loaded.architecture == spec
    x = rng.integers(0, 256, size=(3, *shape), dtype=np.uint8)
    np.testing.assert_array_equal(loaded.logits(x), classifier.logits(x))
    for saved, kept in zip(loaded.network.get_weights(), network.get_weights(), strict=True):
        np.testing.assert_array_equal(saved, kept)


def test_classify_refuses_images_of_another_shape():
    with pytest.raises(ValueError, match=r"images must have shape \(N, 6, 6, 2\) for this "
                                         r"model, got \(5, 6, 6, 3\)"):
        trained_classifier().classify(np.zeros((5, 6, 6, 3)))


def rewrite(tmp_path, change, **kwargs):
    """A saved model's arrays, changed by ``change(arrays)``, written as a new .npz."""
    save_model(str(tmp_path / "good.npz"), trained_classifier())
    with np.load(tmp_path / "good.npz") as content:
        arrays = {key: content[key] for key in content.files}
    change(arrays)
    path = str(tmp_path / "bad.npz")
    np.savez(path, **arrays, **kwargs)
    return path


@pytest.mark.parametrize("change, message", [
    (lambda a: a.pop("mean"), r"has no 'mean' array: not a model saved by imagelab"),
    (lambda a: a.update(weight_0=np.zeros((3, 3, 2, 5), np.float32)),
     r"'weight_0' has shape \(3, 3, 2, 5\), the architecture expects \(3, 3, 2, 4\)"),
    (lambda a: a.update(architecture=np.array('[["conv", 4, 99, 1, 0]]')),
     r"its architecture does not build \(.*9-wide window"),
    (lambda a: a.update(format=np.array("other")), r"has format 'other'"),
    (lambda a: a.update(weight_1=np.array(["x"] * 4)), r"'weight_1' must be of kind 'f'"),
])
def test_a_file_that_is_not_our_model_is_refused(tmp_path, change, message):
    path = rewrite(tmp_path, change)
    with pytest.raises(ValueError, match="model file .*bad.npz.*" + message):
        load_model(path)


def test_object_arrays_are_never_unpickled(tmp_path):
    path = rewrite(tmp_path, lambda a: a.update(mean=np.array([{"code": 1}], dtype=object)))
    with pytest.raises(ValueError, match=r"model file .*bad.npz holds something other than "
                                         r"plain arrays"):
        load_model(path)


@pytest.mark.parametrize("content", [b"not a zip", b""])
def test_a_file_that_is_not_an_npz_is_refused(tmp_path, content):
    path = tmp_path / "model.npz"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=r"model file .*model.npz is not an .npz file \(not a "
                                         r"zip archive\)"):
        load_model(str(path))


def test_a_missing_file_is_refused_in_one_line(tmp_path):
    with pytest.raises(ValueError, match=r"model file .*absent.npz does not exist"):
        load_model(str(tmp_path / "absent.npz"))


# Files from elsewhere: bounded before they are trusted. Each refusal names the file and
# the array, and nothing is built or read beyond the headers of what it refuses.

@pytest.fixture
def nothing_built(monkeypatch):
    """Make building a network or reading an array's data fail the test."""
    def refuse(*args, **kwargs):
        raise AssertionError("built or read before the model file was checked")
    monkeypatch.setattr(model_files, "build", refuse)
    return refuse


def spec_file(tmp_path, spec, shape=SHAPE, text=None, weights=False):
    """A model file of ``spec`` for images of ``shape``, with the weights ``build``
    gives if ``weights``; ``text`` replaces the architecture's JSON."""
    weights = build(spec, shape, seed=0).get_weights() if weights else []
    content = {"format": np.array(FORMAT), "image_shape": np.array(shape),
               "architecture": np.array(json.dumps(spec) if text is None else text),
               "mean": np.zeros(shape[-1], np.float32), "std": np.ones(shape[-1], np.float32),
               "label_names": np.array(["a", "b", "c"]),
               **{f"weight_{i}": w for i, w in enumerate(weights)}}
    path = str(tmp_path / "bad.npz")
    np.savez(path, **content)
    return path


@pytest.mark.parametrize("spec, shape, message", [
    ([["conv", 100000, 50, 1, 0]], SHAPE, r"c_out must be an integer in \[1, 65536\], got 100000"),
    ([["flatten"], ["dense", 300000]], SHAPE, r"d_out must be an integer in \[1, 65536\]"),
    ([["flatten"], ["dense", 1e9]], SHAPE, r"d_out must be an integer .*got 1000000000.0"),
    ([["conv", 4, 3, 1, 70000]], SHAPE, r"padding must be an integer in \[0, 65536\]"),
    ([["flatten"], ["dense", 3]], (100000, 100000, 3),
     r"input side must be an integer in \[1, 65536\], got 100000"),
    ([["relu", 3, 4]], SHAPE, r"layer 'relu' in the architecture entry 0 .* does not take"),
    (["conv"], SHAPE, r"architecture entry 0 must be a list led by a layer name, got 'conv'"),
    ({"conv": 4}, SHAPE, r"an architecture must be a list of layer entries"),
])
def test_an_architecture_out_of_bounds_is_refused_before_it_is_built(tmp_path, nothing_built,
                                                                      spec, shape, message):
    path = spec_file(tmp_path, spec, shape)
    with pytest.raises(ValueError, match=rf"model file .*bad.npz: its architecture does not "
                                         rf"build \(.*{message}"):
        load_model(path)


@pytest.mark.parametrize("spec, shape", [
    ([["conv", 3, 3, 1, 1], ["gmaxpool"]], (20000, 20000, 3)),      # weights valid, 9 MB
    ([["conv", 60000, 3, 1, 1], ["gmaxpool"], ["dense", 3]], SHAPE),  # 2.2 M values an image
    ([["flatten"], ["dense", 60000], ["dense", 60000], ["dense", 3]], SHAPE),
])
def test_a_model_above_max_bytes_is_refused_before_it_is_built(tmp_path, nothing_built,
                                                               spec, shape):
    path = spec_file(tmp_path, spec, shape, weights=shape != SHAPE)   # the small ones
    with pytest.raises(TooLarge, match=r"model file .*bad.npz: its architecture needs about "
                                       r"[\d,.]+ MiB \([\d,]+ weights, forward passes of "
                                       r"batches of 250\), more than the limit of 2,048 MiB"):
        load_model(path)


def test_max_bytes_bounds_what_loading_and_a_forward_pass_allocate(tmp_path):
    # forward_bytes is an upper bound of the tracemalloc peak of load_model and logits
    # (both count every NumPy array); a limit just below it refuses the same file.
    path = str(tmp_path / "model.npz")
    save_model(path, trained_classifier())
    needed = footprint(SPEC, SHAPE).forward_bytes(BATCH_SIZE)
    tracemalloc.start()
    try:
        load_model(path, max_bytes=needed).logits(images(BATCH_SIZE))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak <= needed
    with pytest.raises(TooLarge):
        load_model(path, max_bytes=needed - 1)


def npy_header(shape, dtype="<f4"):
    """The bytes of a version 1.0 .npy header for an array of ``shape`` and ``dtype``."""
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {"descr": dtype, "fortran_order": False,
                                                  "shape": shape})
    return buffer.getvalue()


@pytest.mark.parametrize("key, shape", [("mean", (402653184,)), ("weight_0", (3, 3, 2, 2**26)),
                                        ("junk", (402653184,))])
def test_an_array_is_checked_from_its_header_before_its_data_is_read(tmp_path, key, shape):
    # 1.5 GiB of float32 declared, 1 MiB of zeros given, deflated to a small file.
    path = rewrite(tmp_path, lambda a: a.pop(key, None))
    with zipfile.ZipFile(path, "a", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(key + ".npy", npy_header(shape) + bytes(2**20))
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match=rf"model file .*bad.npz.*'{key}'"):
            load_model(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2**24


def test_a_deeply_nested_architecture_is_refused_before_it_is_parsed(tmp_path, nothing_built):
    text = "[" * 100000 + "]" * 100000
    with pytest.raises(ValueError, match=r"model file .*bad.npz: 'architecture' nests 100000 "
                                         r"levels deep, at most 4 expected"):
        load_model(spec_file(tmp_path, [], text=text))


def test_brackets_inside_strings_do_not_count_as_nesting(tmp_path):
    path = spec_file(tmp_path, [], text='[["relu", "[[[[[[\\"{{{"]]')
    with pytest.raises(ValueError, match=r"layer 'relu' .* does not take these arguments"):
        load_model(path)


def test_a_long_architecture_text_is_refused_before_it_is_read(tmp_path, nothing_built):
    text = json.dumps([["relu"]] * 200000)
    with pytest.raises(ValueError, match=r"'architecture' holds text of up to [\d,]+ "
                                         r"characters, at most 1,048,576 expected"):
        load_model(spec_file(tmp_path, [], text=text))


@pytest.mark.parametrize("change, message", [
    (lambda a: a["weight_0"].__setitem__((0, 0, 0, 0), np.nan),
     r"'weight_0' must hold finite values, got nan at index \(0, 0, 0, 0\)"),
    (lambda a: a["weight_7"].__setitem__(1, np.inf),              # a running variance
     r"'weight_7' must hold finite values, got inf at index \(1,\)"),
    (lambda a: a.update(std=np.array([2, 0], np.float32)), r"'std' must hold values > 0"),
    (lambda a: a.update(std=np.array([2, np.nan], np.float32)), r"'std' must hold finite"),
    (lambda a: a.update(mean=np.zeros(7, np.float32)),
     r"'mean' has shape \(7,\), the architecture expects \(2,\)"),
    (lambda a: a.update(label_names=np.array(["a", "b"])),
     r"'label_names' has shape \(2,\), the architecture expects \(3,\)"),
    (lambda a: a.update(label_names=np.array(["a", "b", "c" * 300])),
     r"'label_names' holds text of up to 300 characters, at most 256 expected"),
    (lambda a: a.update(image_shape=np.array([6, 6])),
     r"'image_shape' has shape \(2,\), the architecture expects \(3,\)"),
    (lambda a: a.update(weight_9=np.zeros(2, np.float32)),
     r"holds arrays that are not part of the model: 'weight_9'"),
])
def test_an_inconsistent_model_file_is_refused_when_it_is_read(tmp_path, change, message):
    path = rewrite(tmp_path, change)
    with pytest.raises(ValueError, match=r"model file .*bad.npz:? " + message):
        load_model(path)


def test_a_model_must_end_in_one_score_per_class(tmp_path, nothing_built):
    path = spec_file(tmp_path, [["conv", 4, 3, 1, 1]])
    with pytest.raises(ValueError, match=r"model file .*bad.npz: the architecture must end in "
                                         r"one score per class, its outputs have shape "
                                         r"\(6, 6, 4\)"):
        load_model(path)


def test_the_footprint_gives_the_shapes_build_makes():
    for spec, shape in [(SPEC, SHAPE), (lenet(10), (32, 32, 3)), (conv4(10), (28, 28, 1)),
                        (airbench(10, widths=(4, 8, 8), whiten_width=6), (32, 32, 3))]:
        network, plan = build(spec, shape, seed=0), footprint(spec, shape)
        assert plan.weight_shapes == [w.shape for w in network.get_weights()]
        assert [layer.output for layer in plan.layers] == network.output_shapes(shape)


@pytest.mark.parametrize("where", ["header", "data"])
def test_a_damaged_member_is_refused_in_one_line(tmp_path, where):
    # savez_compressed deflates each member; garbage in its stream is a zlib error.
    with np.load(rewrite(tmp_path, lambda a: None)) as content:
        arrays = {key: content[key] for key in content.files}
    path = tmp_path / "bad.npz"
    np.savez_compressed(path, **arrays)
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo("weight_4.npy")
    raw = bytearray(path.read_bytes())
    lengths = raw[info.header_offset + 26:info.header_offset + 30]   # of name, extra field
    start = info.header_offset + 30 + sum(struct.unpack("<HH", lengths))
    spot = start + (0 if where == "header" else info.compress_size // 2)
    raw[spot:spot + 16] = b"\xff" * 16
    path.write_bytes(bytes(raw))
    with pytest.raises(ValueError, match=r"model file .*bad.npz"):
        load_model(str(path))
