"""Tests of imagelab.utils.allocator: glibc accepts the thresholds; elsewhere nothing happens."""
import ctypes
import platform

import pytest

from imagelab.utils import allocator


@pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc",
                    reason="mallopt is glibc's")
def test_glibc_accepts_the_thresholds():
    assert allocator.keep_freed_memory() is True


def test_without_mallopt_nothing_happens(monkeypatch):
    def no_library(name):
        raise OSError(f"{name}: cannot open shared object file")
    monkeypatch.setattr(ctypes, "CDLL", no_library)
    assert allocator.keep_freed_memory() is False
