"""Tests of imagelab.nn.model_files: a saved model classifies as the trained one did, and a
file that is not one of ours (object arrays, missing keys, wrong shapes, not an .npz)
is refused in one line that names the file."""
import numpy as np
import pytest

from imagelab.nn.architectures import airbench, build
from imagelab.nn.model_files import Classifier, load_model, save_model

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
