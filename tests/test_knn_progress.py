"""The k sweep's progress line: shown on stderr, and without effect on the accuracies."""
import functools
import io
import os

import numpy as np

from conftest import blobs, make_cifar_folder
from imagelab.classic.knn import evaluate_knn_sweep
from imagelab.cli import knn as command
from imagelab.utils.progress import Progress

K_VALUES = list(range(1, 8))


def sweep(progress, chunk_bytes):
    """The k sweep's accuracies on fixed blobs: 300 training rows, 40 test rows."""
    rng = np.random.default_rng(0)
    data_train, labels_train = blobs(rng, 300, d=6, dtype=np.float32)
    data_test, labels_test = blobs(rng, 40, d=6, dtype=np.float32)
    return evaluate_knn_sweep(data_train, labels_train, data_test, labels_test, K_VALUES,
                              chunk_bytes=chunk_bytes, progress=progress)


def test_the_sweep_reports_each_block_of_training_rows_and_keeps_its_results():
    # 2,000 bytes: blocks of 35 rows of 7 float32 (half the memory), so 9 blocks of 300 rows.
    stream = io.StringIO()
    with_line = sweep(Progress(300, stream=stream), chunk_bytes=2000)
    lines = stream.getvalue().splitlines()
    assert lines[0].startswith("  nearest neighbours: ") and "/300 training rows" in lines[0]
    assert lines[-1].startswith("  nearest neighbours: 300/300 training rows")
    assert len(lines) == 9
    assert with_line == sweep(None, chunk_bytes=2000)


def test_a_sweep_of_one_block_says_nothing():
    stream = io.StringIO()
    one_block = sweep(Progress(300, stream=stream), chunk_bytes=10**6)
    assert stream.getvalue() == ""
    assert one_block == sweep(None, chunk_bytes=2000)


def test_knn_command_prints_its_progress_on_stderr(tmp_path, capsys, monkeypatch):
    make_cifar_folder(os.path.join(tmp_path, "data", "cifar-10-batches-py"),
                      sizes=(20, 20, 20, 20, 20, 10))
    # Blocks of 3 rows: the 99 training rows of the 90% split in several blocks.
    monkeypatch.setattr(command, "evaluate_knn_sweep",
                        functools.partial(evaluate_knn_sweep, chunk_bytes=6 * 3073 * 4))
    command.main(["--data-dir", os.path.join(tmp_path, "data"), "--results-dir",
                  os.path.join(tmp_path, "results"), "--k-max", "3", "--no-download"])
    out, err = capsys.readouterr()
    assert "  nearest neighbours: 99/99 training rows" in err
    assert out.startswith(" k  accuracy\n")
    assert "nearest neighbours" not in out
