"""The command front: ``imagelab COMMAND`` and ``python -m imagelab COMMAND``."""
import importlib
import subprocess
import sys

import pytest

from conftest import ROOT
from imagelab import cli


def test_help_lists_every_command_in_one_line_each(capsys):
    with pytest.raises(SystemExit) as stop:
        cli.main(["--help"])
    assert stop.value.code == 0
    lines = capsys.readouterr().out.splitlines()
    for name, (_, summary) in cli.COMMANDS.items():
        assert sum(line.split()[:1] == [name] and summary in line for line in lines) == 1


@pytest.mark.parametrize("name", sorted(cli.COMMANDS))
def test_every_command_has_its_own_help(name, capsys):
    module = importlib.import_module(f"imagelab.cli.{cli.COMMANDS[name][0]}")
    with pytest.raises(SystemExit) as stop:
        cli.main([name, "--help"])
    assert stop.value.code == 0 and callable(module.main)
    assert f"imagelab {name}" in capsys.readouterr().out


def test_an_unknown_command_is_one_line_with_status_2(capsys):
    with pytest.raises(SystemExit) as stop:
        cli.main(["knnn"])
    err = capsys.readouterr().err
    assert stop.value.code == 2 and len(err.strip().splitlines()) == 1
    assert "'knnn'" in err and "knn-study" in err


def test_python_m_imagelab_is_the_same_front():
    """A real subprocess: the package's __main__ runs the front, and a flag error exits 2."""
    done = subprocess.run([sys.executable, "-m", "imagelab", "knn", "--k-max", "0"],
                          cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 2
    assert done.stderr.strip() == ("imagelab knn: error: argument --k-max: must be an "
                                   "integer >= 1, got 0 (run with --help for usage)")
