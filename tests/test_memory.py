"""Tests of imagelab.cli.memory: the layer sizes it counts without building a network
are the built network's, and a run too large for the machine is refused in one line
before anything is read or allocated."""
import math

import pytest

from conftest import prog, run_script, snapshot
from imagelab.cli import memory
from imagelab.nn.architectures import airbench, build, conv4, footprint, lenet


@pytest.mark.parametrize("spec, shape", [
    (lenet(10), (32, 32, 3)),
    (conv4(10, width=4, hidden=8), (28, 28, 1)),
    (conv4(7, batch_norm=False, width=3, hidden=5, dropout=0.5), (32, 32, 3)),
    (airbench(10, (4, 8, 8)), (32, 32, 3)),
    (airbench(10, (4, 8, 8), identity_init=False), (28, 28, 1)),
    ([["conv", 5, [3, 2], 2, 1], ["pool", 3, 2], ["flatten"], ["dense", 4, {"bias": False}]],
     (17, 13, 2)),
])
def test_layer_sizes_are_the_built_networks(spec, shape):
    network = build(spec, shape, seed=0)
    counts = [sum(p.value.size for p in layer.parameters()) for layer in network.layers]
    plan = footprint(spec, shape)
    assert [sum(math.prod(s) for s in layer.parameters) for layer in plan.layers] == counts
    assert [layer.output for layer in plan.layers] == list(network.output_shapes(shape))


def test_training_bytes_count_copies_of_the_parameters_and_one_batch():
    spec = [["flatten"], ["dense", 3]]                  # 2 x 2 x 1 -> 4 -> 3: 15 parameters
    assert memory.training_bytes(spec, (2, 2, 1), batch_size=10, copies=3) == \
        4 * (3 * 15 + 10 * (4 + 3))


@pytest.mark.parametrize("command, flags, sizing, reason", [
    ("train-cnn", ["--width", "20000"], "--width/--hidden/--batch-size", "the training needs "
     "at least "),
    ("train-cnn", ["--width", "100000"], "--width/--hidden/--batch-size", "architecture entry "
     "0 ['conv', 100000, 3, 1, 1, {'bias': False}]: c_out must be an integer in [1, 65536], got 100000"),
    ("train-cnn", ["--hidden", "1000000000"], "--width/--hidden/--batch-size", "architecture "
     "entry 11 ['dense', 1000000000]: d_out must be an integer in [1, 65536]"),
    ("train-recipe", ["--widths", "30000", "4", "4"], "--widths/--micro-batch", "the training "
     "needs at least "),
    ("train-recipe", ["--widths", "100000", "4", "4"], "--widths/--micro-batch", "architecture "
     "entry 2 "),
    ("ablation", ["--widths", "30000", "4", "4"], "--widths/--micro-batch", "the training "
     "needs at least "),
])
def test_a_run_larger_than_the_machine_is_refused_before_the_data(folders, tmp_path, command,
                                                                  flags, sizing, reason):
    """Sizes out of the architectures' bounds, or a training that needs more memory than
    the machine has: one line naming the flags that size the run, before any data."""
    before = snapshot(*folders, tmp_path)
    models = [] if command == "ablation" else ["--model-dir", str(tmp_path / "models")]
    result = run_script(command, *folders, *flags, *models)
    assert result.returncode == 2
    assert result.stderr.startswith(f"{prog(command)}: error: argument {sizing}: {reason}"), \
        result.stderr
    assert result.stderr.count("\n") == 1
    assert ("GiB of memory" in result.stderr) == reason.startswith("the training")
    assert snapshot(*folders, tmp_path) == before
