"""Checkpoints: a training stopped after an epoch and resumed ends as an uninterrupted one."""
import os
import re
import shutil

import numpy as np
import pytest

from conftest import blobs, prog, run_script, snapshot
from imagelab.cli import train_cnn, train_recipe
from imagelab.cli.arguments import training_settings
from imagelab.nn import network as model
from imagelab.nn.optim import SGD, Adam
from imagelab.training.checkpoint import (Checkpoint, check_checkpoint, network_generators,
                                          read_checkpoint)
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


def test_without_resume_an_unfinished_runs_checkpoint_is_refused_and_kept(tmp_path):
    path = saved_checkpoint(tmp_path)
    with open(path, "rb") as f:
        content = f.read()
    with pytest.raises(FlagError, match=rf"^argument --resume: not given, but the checkpoint "
                                        rf"{path} of an unfinished run exists: pass --resume "
                                        rf"to continue it, or delete the file to start over$"):
        check_checkpoint(path, SETTINGS, resume=False)
    with open(path, "rb") as f:
        assert f.read() == content
    check_checkpoint(str(tmp_path / "other.checkpoint.npz"), SETTINGS, resume=False)


def test_a_resume_is_checked_without_the_network(tmp_path):
    """Other settings and damage are found from the file alone, before anything is built."""
    path = saved_checkpoint(tmp_path)
    check_checkpoint(path, SETTINGS, resume=True)
    with pytest.raises(FlagError, match=r"^argument --num-epoch: .* with 4, not 5"):
        check_checkpoint(path, {**SETTINGS, "--num-epoch": 5}, resume=True)
    damage_by_truncating(path)
    with pytest.raises(FlagError, match=r"^argument --resume: the checkpoint .* is damaged"):
        check_checkpoint(path, SETTINGS, resume=True)


def lose_by_removing(folder):
    shutil.rmtree(folder)


def lose_to_a_file(folder):
    shutil.rmtree(folder)
    with open(folder, "w") as f:
        f.write("not a folder")


def no_temporary_file(folder):
    """Whether no ``write_atomic`` temporary file is left under ``folder``."""
    return not [name for _, _, names in os.walk(folder) for name in names
                if name.endswith(".tmp")]


@pytest.mark.parametrize("lose", [lose_by_removing, lose_to_a_file])
def test_a_checkpoint_that_cannot_be_written_is_saved_elsewhere_and_named(tmp_path, lose):
    folder = tmp_path / "models"
    folder.mkdir()
    path = str(folder / "run.checkpoint.npz")
    net, opt, rng, checkpoint = setup(path, "sgd")

    def save_then_lose(progress, arrays):
        checkpoint.save(progress, arrays)
        lose(str(folder))

    with pytest.raises(FlagError) as error:
        run(net, opt, rng, after_epoch=save_then_lose)
    match = re.fullmatch(rf"argument --model-dir: cannot write the checkpoint {path} \(.+\): "
                         rf"the training stopped; its last epoch is saved in (.+): resume "
                         rf"with --model-dir (.+) --resume", str(error.value))
    assert match, error.value
    elsewhere = match.group(1)
    try:
        assert match.group(2) == os.path.dirname(elsewhere)
        assert os.listdir(match.group(2)) == ["run.checkpoint.npz"]
        # the state after the second epoch: the history of two
        progress, _ = setup(elsewhere, "sgd")[3].load()
        assert len(progress["history"]["train_loss"]) == 2
    finally:
        shutil.rmtree(match.group(2))
    assert no_temporary_file(tmp_path)


# Each command's tiny run, two epochs, and its module.
COMMANDS = {
    "train-cnn": (train_cnn, ["--arch", "lenet", "--num-epoch", "2", "--batch-size", "25",
                              "--validation", "0.1", "--name", "run"]),
    "train-recipe": (train_recipe, ["--widths", "4", "8", "8", "--batch-size", "16",
                                    "--micro-batch", "8", "--epochs", "2", "--name", "run"]),
}


@pytest.fixture
def no_data_read(monkeypatch):
    """Make a read of the data fail the test: the refusals below come before it."""
    def read(*args, **kwargs):
        raise AssertionError("the data was read")
    for module, _ in COMMANDS.values():
        monkeypatch.setattr(module, "load_split", read)


def checkpoint_of(path, command, *flags):
    """Write a checkpoint at ``path`` saved with the settings of ``command``'s tiny run
    and ``flags`` (of a tiny network: the file is the subject)."""
    module, tiny = COMMANDS[command]
    settings = training_settings(module.parse_arguments([*tiny, *flags])[1])
    os.makedirs(os.path.dirname(path), exist_ok=True)
    Checkpoint(path, settings, model.mlp([2, 3], seed=0), [], []).save({}, {})
    with open(path, "rb") as f:
        return f.read()


@pytest.mark.parametrize("command", COMMANDS)
def test_a_run_without_resume_keeps_an_unfinished_runs_checkpoint(folders, tmp_path,
                                                                   no_data_read, command):
    path = tmp_path / "models" / "run.checkpoint.npz"
    content = checkpoint_of(str(path), command)
    before = snapshot(*folders)
    result = run_script(command, *folders, *COMMANDS[command][1], "--model-dir",
                        str(tmp_path / "models"))
    assert result.returncode == 2
    assert result.stderr == (f"{prog(command)}: error: argument --resume: not given, but the "
                             f"checkpoint {path} of an unfinished run exists: pass --resume "
                             f"to continue it, or delete the file to start over\n")
    assert path.read_bytes() == content
    assert snapshot(*folders) == before


@pytest.mark.parametrize("command", COMMANDS)
def test_a_resume_with_other_flags_is_refused_before_the_data(folders, tmp_path,
                                                              no_data_read, command):
    path = tmp_path / "models" / "run.checkpoint.npz"
    content = checkpoint_of(str(path), command, "--seed", "1")
    result = run_script(command, *folders, *COMMANDS[command][1], "--model-dir",
                        str(tmp_path / "models"), "--resume")
    assert result.returncode == 2
    assert result.stderr == (f"{prog(command)}: error: argument --seed: the checkpoint {path} "
                             f"was saved with 1, not 0: resume with the same flags\n")
    assert path.read_bytes() == content


@pytest.mark.parametrize("command", COMMANDS)
def test_a_damaged_checkpoint_is_refused_before_the_data(folders, tmp_path, no_data_read,
                                                         command):
    path = tmp_path / "models" / "run.checkpoint.npz"
    checkpoint_of(str(path), command)
    damage_by_truncating(str(path))
    content = path.read_bytes()
    result = run_script(command, *folders, *COMMANDS[command][1], "--model-dir",
                        str(tmp_path / "models"), "--resume")
    assert result.returncode == 2
    assert re.fullmatch(rf"{prog(command)}: error: argument --resume: the checkpoint {path} "
                        rf"is damaged \(.+\); remove it to start over\n", result.stderr), \
        result.stderr
    assert path.read_bytes() == content


def lose_after_first_checkpoint(monkeypatch, folder, lose):
    """Make the next training ``lose`` its model ``folder`` once its first checkpoint is
    written."""
    save = Checkpoint.save

    def save_then_lose(self, progress, arrays):
        save(self, progress, arrays)
        lose(folder)

    monkeypatch.setattr(Checkpoint, "save", save_then_lose)


@pytest.mark.parametrize("lose", [lose_by_removing, lose_to_a_file])
@pytest.mark.parametrize("command", COMMANDS)
def test_a_model_folder_lost_during_the_training_stops_it_with_its_state_saved(
        folders, tmp_path, monkeypatch, command, lose):
    """The second epoch's checkpoint cannot be written: one line names the temporary
    folder that holds it, from which the training can be resumed."""
    models = str(tmp_path / "models")
    flags = COMMANDS[command][1]
    before = snapshot(folders[1])
    with monkeypatch.context() as patch:
        lose_after_first_checkpoint(patch, models, lose)
        result = run_script(command, *folders, *flags, "--model-dir", models)
    assert result.returncode == 2
    checkpoint = os.path.join(models, "run.checkpoint.npz")
    # the progress lines, then one line
    assert result.stderr.endswith("\n") and "Traceback" not in result.stderr
    match = re.fullmatch(rf"{prog(command)}: error: argument --model-dir: cannot write the "
                         rf"checkpoint {checkpoint} \(.+\): the training stopped; its last "
                         rf"epoch is saved in (.+)/run\.checkpoint\.npz: resume with "
                         rf"--model-dir \1 --resume", result.stderr.splitlines()[-1])
    assert match, result.stderr
    elsewhere = match.group(1)
    try:
        assert os.listdir(elsewhere) == ["run.checkpoint.npz"]
        assert snapshot(folders[1]) == before                 # no result written
        assert no_temporary_file(tmp_path)
        # both epochs are there, for a --resume with the same flags
        settings = training_settings(COMMANDS[command][0].parse_arguments(flags)[1])
        state, _ = read_checkpoint(os.path.join(elsewhere, "run.checkpoint.npz"), settings)
        assert len(state["progress"]["history"]["train_loss"]) == 2
    finally:
        shutil.rmtree(elsewhere)
