"""Checkpoints: a training stopped after an epoch and resumed ends as an uninterrupted one."""
import os

import numpy as np
import pytest

from conftest import blobs, prog, run_script, snapshot
from imagelab.nn import network as model
from imagelab.nn.optim import SGD, Adam
from imagelab.training.checkpoint import Checkpoint, network_generators
from imagelab.training.loop import train
from imagelab.utils.checks import FlagError

SETTINGS = {"--num-epoch": 4, "--learning-rate": 0.05}


def setup(path, optimizer):
    """A fresh run's network, generator and checkpoint (an MLP with dropout)."""
    net = model.mlp([6, 16, 3], "relu", dropout=0.3, seed=0, dtype=np.float64)
    optimizer = SGD(net.parameters(), 0.9) if optimizer == "sgd" else Adam(net.parameters())
    rng = np.random.default_rng(5)
    checkpoint = Checkpoint(path, SETTINGS, net, [optimizer],
                            [rng, *network_generators(net)])
    return net, optimizer, rng, checkpoint


def run(net, optimizer, rng, **options):
    """``train`` on blobs, four epochs, rows mirrored at random, with a validation split."""
    x, y = blobs(np.random.default_rng(12), 200, d=6, spread=1.5)
    history = train(net, x[:150], y[:150], x[150:], y[150:], num_epoch=4, batch_size=32,
                    optimizer=optimizer, learning_rate=0.05, data_flipped=-x[:150], seed=rng,
                    **options)
    del history["seconds"]
    return history


class Stop(Exception):
    """Raised by ``stop_after`` once the epoch's checkpoint is written."""


def stop_after(checkpoint, epochs):
    """An ``after_epoch`` that saves ``checkpoint``, then stops after ``epochs`` epochs."""
    def after_epoch(progress, arrays):
        checkpoint.save(progress, arrays)
        if len(progress["history"]["train_loss"]) == epochs:
            raise Stop
    return after_epoch


def final_state(net, optimizer, rng):
    """Every array and count a run leaves: weights, optimizer states, generators' states."""
    return (net.get_weights(), [dict(state) for state in optimizer.states],
            [rng.bit_generator.state] + [g.bit_generator.state for g in network_generators(net)])


def assert_same_state(first, second):
    """Two ``final_state`` results equal bit for bit."""
    for mine, theirs in zip(first[0], second[0], strict=True):
        assert mine.dtype == theirs.dtype
        np.testing.assert_array_equal(mine, theirs)
    for mine, theirs in zip(first[1], second[1], strict=True):
        assert mine.keys() == theirs.keys()
        for key in mine:
            np.testing.assert_array_equal(mine[key], theirs[key])
    assert first[2] == second[2]


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
@pytest.mark.parametrize("epochs", [1, 3, 4])
def test_a_resumed_run_ends_bit_for_bit_as_an_uninterrupted_one(tmp_path, optimizer, epochs):
    path = str(tmp_path / "run.checkpoint.npz")
    net, opt, rng, _ = setup(path, optimizer)
    expected = run(net, opt, rng)
    expected_state = final_state(net, opt, rng)
    net, opt, rng, checkpoint = setup(path, optimizer)
    with pytest.raises(Stop):
        run(net, opt, rng, after_epoch=stop_after(checkpoint, epochs))
    net, opt, rng, checkpoint = setup(path, optimizer)      # a new process, as it were
    history = run(net, opt, rng, start=checkpoint.load(), after_epoch=checkpoint.save)
    assert history == expected
    assert_same_state(final_state(net, opt, rng), expected_state)


def saved_checkpoint(tmp_path, epochs=1):
    """The path of a checkpoint written after ``epochs`` epochs."""
    path = str(tmp_path / "run.checkpoint.npz")
    net, opt, rng, checkpoint = setup(path, "sgd")
    with pytest.raises(Stop):
        run(net, opt, rng, after_epoch=stop_after(checkpoint, epochs))
    return path


def test_a_checkpoint_holds_the_history_and_the_best_epoch_weights(tmp_path):
    path = saved_checkpoint(tmp_path, epochs=3)
    progress, arrays = setup(path, "sgd")[3].load()
    assert len(progress["history"]["val_accuracy"]) == 3
    assert progress["best_epoch"] == 1 + int(np.argmax(progress["history"]["val_accuracy"]))
    assert sorted(arrays) == sorted(f"best/{i}" for i in range(len(arrays)))
    assert len(arrays) == len(setup(path, "sgd")[0].get_weights())


def test_a_checkpoint_of_other_settings_is_refused_naming_the_flag(tmp_path):
    path = saved_checkpoint(tmp_path)
    net, opt, rng, _ = setup(path, "sgd")
    other = Checkpoint(path, {**SETTINGS, "--num-epoch": 5}, net, [opt], [rng])
    with pytest.raises(FlagError, match=r"^argument --num-epoch: the checkpoint .* was saved "
                                        r"with 4, not 5: resume with the same flags$"):
        other.load()
    fewer = Checkpoint(path, {"--num-epoch": 4}, net, [opt], [rng])
    with pytest.raises(FlagError, match=r"^argument --learning-rate: .* with 0.05, not None"):
        fewer.load()


def damage_by_truncating(path):
    with open(path, "rb") as f:
        content = f.read()
    with open(path, "wb") as f:
        f.write(content[:len(content) // 2])


def damage_by_emptying(path):
    open(path, "wb").close()


def damage_by_dropping_an_array(path):
    with np.load(path) as f:
        arrays = {key: f[key] for key in f.files if key != "weights/0"}
    np.savez(path, **arrays)


def damage_by_bad_json(path):
    with np.load(path) as f:
        arrays = {key: f[key] for key in f.files}
    np.savez(path, **{**arrays, "json": np.array("{not json")})


@pytest.mark.parametrize("damage", [damage_by_truncating, damage_by_emptying,
                                    damage_by_dropping_an_array, damage_by_bad_json])
def test_a_damaged_checkpoint_is_refused_naming_the_file_and_left_as_it_is(tmp_path, damage):
    path = saved_checkpoint(tmp_path)
    damage(path)
    with open(path, "rb") as f:
        content = f.read()
    with pytest.raises(FlagError, match=rf"^argument --resume: the checkpoint {path} is "
                                        r"damaged \(.+\); remove it to start over$"):
        setup(path, "sgd")[3].load()
    with open(path, "rb") as f:
        assert f.read() == content


def test_a_checkpoint_of_another_network_is_refused(tmp_path):
    path = saved_checkpoint(tmp_path)
    net = model.mlp([6, 8, 3], "relu", seed=0, dtype=np.float64)
    checkpoint = Checkpoint(path, SETTINGS, net, [SGD(net.parameters())], [])
    with pytest.raises(FlagError, match=r"damaged \(an array of shape \(6, 16\) \(float64\) "
                                        r"where \(6, 8\) \(float64\) was expected\)"):
        checkpoint.load()


def test_no_checkpoint_to_resume_from_is_refused(tmp_path):
    path = str(tmp_path / "none.checkpoint.npz")
    with pytest.raises(FlagError, match=rf"^argument --resume: no checkpoint {path} to "
                                        r"resume from$"):
        setup(path, "sgd")[3].load()
    assert not os.path.exists(path)


@pytest.mark.parametrize("command", ["train-cnn", "train-recipe"])
def test_resume_without_a_checkpoint_is_one_line_before_the_data(folders, tmp_path, command):
    before = snapshot(*folders)
    models = tmp_path / "models"
    result = run_script(command, *folders, "--name", "run", "--model-dir", str(models),
                        "--resume")
    assert result.returncode == 2
    assert result.stderr == (f"{prog(command)}: error: argument --resume: no checkpoint "
                             f"{models / 'run.checkpoint.npz'} to resume from\n")
    assert snapshot(*folders) == before
