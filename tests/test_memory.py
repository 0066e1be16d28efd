"""Tests of imagelab.cli.memory: the layer sizes it computes without building a network
are the built network's, and a run too large for the machine is refused in one line
before anything is read or allocated."""
import pytest

from conftest import prog, run_script, snapshot
from imagelab.cli import memory
from imagelab.nn.architectures import airbench, build, conv4, lenet


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
    assert memory.layer_sizes(spec, shape) == list(zip(counts, network.output_shapes(shape)))


def test_training_bytes_count_copies_of_the_parameters_and_one_batch():
    spec = [["flatten"], ["dense", 3]]                  # 2 x 2 x 1 -> 4 -> 3: 15 parameters
    assert memory.training_bytes(spec, (2, 2, 1), batch_size=10, copies=3) == \
        4 * (3 * 15 + 10 * (4 + 3))


@pytest.mark.parametrize("command, flags, sizing", [
    ("train-cnn", ["--width", "100000"], "--width/--hidden/--batch-size"),
    ("train-cnn", ["--hidden", "1000000000"], "--width/--hidden/--batch-size"),
    ("train-recipe", ["--widths", "100000", "4", "4"], "--widths/--micro-batch"),
    ("ablation", ["--widths", "100000", "4", "4"], "--widths/--micro-batch"),
])
def test_a_run_larger_than_the_machine_is_refused_before_the_data(folders, tmp_path, command,
                                                                  flags, sizing):
    before = snapshot(*folders, tmp_path)
    models = [] if command == "ablation" else ["--model-dir", str(tmp_path / "models")]
    result = run_script(command, *folders, *flags, *models)
    assert result.returncode == 2
    assert result.stderr.startswith(f"{prog(command)}: error: argument {sizing}: the training "
                                    "needs at least "), result.stderr
    assert result.stderr.count("\n") == 1 and "GiB of memory" in result.stderr
    assert snapshot(*folders, tmp_path) == before
