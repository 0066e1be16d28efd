"""Tests of imagelab.utils.progress and of the progress lines that use it."""
import io

import numpy as np

from imagelab.data.descriptors import describe
from imagelab.utils.progress import Progress


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_off_a_terminal_a_line_every_tenth():
    log = io.StringIO()
    line = Progress(1000, stream=log)
    for done in range(1, 1001):
        line.update(done, f"{done}/1000")
    line.close()
    assert log.getvalue().splitlines() == ["1/1000"] + [f"{100 * i}/1000" for i in range(1, 11)]


def test_off_a_terminal_an_unknown_total_prints_the_first_update_only():
    log = io.StringIO()
    line = Progress(0, stream=log)
    for done in (1, 2, 3):
        line.update(done, f"{done} MB")
    line.close()
    assert log.getvalue() == "1 MB\n"


def test_on_a_terminal_the_line_is_rewritten_in_place():
    terminal = Terminal()
    line = Progress(3, stream=terminal)
    for done in (1, 2, 3):
        line.update(done, f"{done}/3")
    line.close()
    assert terminal.getvalue() == "\r1/3\r2/3\r3/3\n"


def test_describe_logs_about_ten_plain_lines(capsys):
    rows = np.random.default_rng(0).integers(0, 256, size=(40, 3072)).astype(np.float32)
    describe(rows, "color", n_jobs=1, chunk_size=2, progress=True)
    err = capsys.readouterr().err                   # captured: not a terminal
    assert "\r" not in err
    lines = err.splitlines()
    assert len(lines) == 11 and lines[-1].startswith("  color: 40/40 images")
