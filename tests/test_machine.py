"""Tests of imagelab.utils.machine."""
import platform

from imagelab.utils import machine


def test_cpu_name_reads_proc_cpuinfo_and_falls_back_on_platform(monkeypatch):
    name = machine.cpu_name()
    assert isinstance(name, str) and name and "\n" not in name

    def missing(*args, **kwargs):
        raise OSError("no /proc here")

    monkeypatch.setattr("builtins.open", missing)
    assert machine.cpu_name() == (platform.processor() or platform.machine() or "unknown")
