"""Ctrl-C (SIGINT) and SIGTERM: one line naming what was saved, status 130 or 143, no
temporary file left. Real processes receive the signals mid-write; a command gets a
KeyboardInterrupt in this process."""
import os
import signal
import subprocess
import sys

import pytest

from conftest import ROOT, prog, run_script

# A program that writes one file whole, then stops in the middle of a second one.
WRITER = """
import sys, time
from imagelab.cli.arguments import ArgumentParser
from imagelab.utils.files import write_atomic

def slow(f):
    f.write(b"half a figure")
    f.flush()
    print("writing", flush=True)
    time.sleep(60)

with ArgumentParser(prog="writer").flag_errors():
    write_atomic(sys.argv[1] + "/done.json", lambda f: f.write(b"{}"))
    write_atomic(sys.argv[1] + "/figure.png", slow)
"""


def as_in_a_terminal():
    """Give the child the default SIGINT disposition. A test run started in the background
    (``cmd &``, as CI may be) inherits SIGINT ignored, and Python then leaves it ignored:
    Ctrl-C could never reach such a program, so the test recreates the terminal's case."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.parametrize("number, status", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_mid_write_removes_the_temporary_file_in_one_line(tmp_path, number, status):
    process = subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path)], cwd=ROOT,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               preexec_fn=as_in_a_terminal)
    assert process.stdout.readline() == "writing\n"
    assert any(name.endswith(".tmp") for name in os.listdir(tmp_path))
    process.send_signal(number)
    _, stderr = process.communicate(timeout=30)
    assert process.returncode == status
    assert stderr == (f"writer: stopped by {number.name}; saved {tmp_path}/done.json, "
                      "no partial file left\n")
    assert os.listdir(tmp_path) == ["done.json"]


def test_ctrl_c_during_a_training_is_one_line(folders, tmp_path, monkeypatch):
    from imagelab.cli import train_cnn

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(train_cnn, "train", interrupted)
    result = run_script("train-cnn", *folders, "--arch", "lenet", "--model-dir",
                        str(tmp_path / "models"))
    assert result.returncode == 130
    assert result.stderr == (f"{prog('train-cnn')}: stopped by SIGINT; nothing saved, "
                             "no partial file left\n")
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL     # the handler is put back
