"""The benchmarks import what exists: every ``from imagelab... import name`` of
benchmarks/*.py names a module and an attribute of the package (read with ``ast``; the
benchmarks themselves are not run, their timings belong to their own commands)."""
import ast
import glob
import importlib
import importlib.util
import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCHMARKS = sorted(glob.glob(os.path.join(ROOT, "benchmarks", "*.py")))


def project_imports(path):
    """(module, name) for each ``from imagelab... import name`` of a file."""
    tree = ast.parse(open(path, encoding="utf-8").read(), path)
    return [(node.module, alias.name) for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and node.module
            and node.module.split(".")[0] == "imagelab" for alias in node.names]


@pytest.mark.parametrize("path", BENCHMARKS, ids=os.path.basename)
def test_every_benchmark_imports_names_that_exist(path):
    for module, name in project_imports(path):
        imported = importlib.import_module(module)
        assert hasattr(imported, name) or importlib.util.find_spec(f"{module}.{name}"), \
            f"{os.path.basename(path)}: {module} has no {name}"
