"""The package's map, and its imports pointing one way.

Each module is read with ``ast`` (nothing is imported). The map of ``imagelab`` (also in
docs/layout.md): a subpackage may import itself and the subpackages it is allowed here,
and nothing imports the lab's scripts at the root, which are the package's clients.

    utils      checks, files, progress, machine         (imports nothing of the project)
    data       registry, readers, downloads, splits, augmentation, descriptors
    nn         layers, conv, batch norm, losses, optim, network, architectures, files,
               gradient checks
    autograd   the Tensor, its modules, optimizers and data loaders
    training   the loop, metrics, test-time augmentation
    classic    kNN, the lab's MLP, cross-validation
    recipes    the fast CIFAR-10 recipe
    analysis   studies of trained models
    viz        figures (matplotlib only here and in cli)
    handouts   what one handout asks for by name, built on the rest
    cli        one module per command
"""
import ast
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LAB_SCRIPTS = ("knn", "mlp", "read_cifar")

ALLOWED = {
    "utils": set(),
    "data": {"utils"},
    "nn": {"utils"},
    "autograd": {"utils", "nn"},
    "training": {"utils", "nn"},
    "classic": {"utils", "data", "nn"},
    "recipes": {"utils", "data", "nn", "training"},
    "analysis": {"utils", "data", "nn", "training"},
    "viz": {"utils", "data", "training"},
    "handouts": {"utils", "data", "nn", "autograd", "training", "classic", "viz"},
    "cli": {"utils", "data", "nn", "autograd", "training", "classic", "recipes", "analysis",
            "viz", "handouts"},
}
# The only subpackages that may import matplotlib.
PLOTTING = {"viz", "cli"}


def project_modules():
    """Module name -> path of every module of the project (the lab's and the package's)."""
    modules = {name[:-3]: os.path.join(ROOT, name)
               for name in os.listdir(ROOT) if name.endswith(".py")}
    for folder, _, files in os.walk(os.path.join(ROOT, "imagelab")):
        package = os.path.relpath(folder, ROOT).replace(os.sep, ".")
        for name in files:
            if name.endswith(".py"):
                module = package if name == "__init__.py" else f"{package}.{name[:-3]}"
                modules[module] = os.path.join(folder, name)
    return modules


MODULES = project_modules()


def imports(path):
    """(module imported, line, inside a function) for each import of a file."""
    tree = ast.parse(open(path, encoding="utf-8").read(), path)
    found = []

    def visit(node, in_function):
        for child in ast.iter_child_nodes(node):
            inside = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef,
                                                       ast.Lambda))
            if isinstance(child, ast.Import):
                names = [alias.name for alias in child.names]
            elif isinstance(child, ast.ImportFrom) and child.level == 0:
                # "from imagelab.nn import layers" imports the module imagelab.nn.layers.
                names = [f"{child.module}.{alias.name}" if f"{child.module}.{alias.name}"
                         in MODULES else child.module for alias in child.names]
            else:
                names = []
            found.extend((name, child.lineno, inside) for name in names)
            visit(child, inside)

    visit(tree, False)
    return found


def subpackage(module):
    """'nn' for 'imagelab.nn.layers'; None for the package itself or a root script."""
    if module == "imagelab.__main__":
        return "cli"                          # python -m imagelab: the commands' front
    parts = module.split(".")
    return parts[1] if parts[0] == "imagelab" and len(parts) > 1 else None


PACKAGE = sorted(name for name in MODULES if name.startswith("imagelab"))


def test_the_root_holds_only_the_labs_modules():
    root_modules = sorted(name for name, path in MODULES.items()
                          if os.path.dirname(path) == ROOT)
    assert root_modules == sorted(LAB_SCRIPTS)


def test_every_subpackage_is_on_the_map():
    found = {subpackage(name) for name in PACKAGE} - {None}
    assert found == set(ALLOWED), "put each new subpackage on the map (ALLOWED)"


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_project_import_inside_a_function(module):
    inside = [f"line {line}: {name}" for name, line, in_function in imports(MODULES[module])
              if in_function and name.split(".")[0] in ("imagelab",) + LAB_SCRIPTS]
    assert not inside, f"{module} imports project modules inside functions: {inside}"


@pytest.mark.parametrize("module", PACKAGE)
def test_the_package_never_imports_the_lab_scripts(module):
    found = [f"line {line}: {name}" for name, line, _ in imports(MODULES[module])
             if name.split(".")[0] in LAB_SCRIPTS]
    assert not found, f"{module} imports a lab script: {found}"


@pytest.mark.parametrize("module", PACKAGE)
def test_imports_follow_the_map(module):
    own = subpackage(module)
    allowed = ALLOWED.get(own, set()) | {own}
    wrong = [f"line {line}: {name}" for name, line, _ in imports(MODULES[module])
             if name.startswith("imagelab.") and subpackage(name) not in allowed]
    assert not wrong, f"{module} ({own}) may import only {sorted(allowed)}: {wrong}"


@pytest.mark.parametrize("module", PACKAGE)
def test_only_figures_and_commands_import_matplotlib(module):
    if subpackage(module) in PLOTTING:
        return
    found = [f"line {line}" for name, line, _ in imports(MODULES[module])
             if name.split(".")[0] == "matplotlib"]
    assert not found, f"{module} imports matplotlib ({found}): plots belong in imagelab.viz"


def test_no_import_cycle():
    graph = {module: {name for name, _, _ in imports(path) if name in MODULES and name != module}
             for module, path in MODULES.items()}
    # Depth-first search; a module met again while still on the path closes a cycle.
    state = {}

    def visit(module, path):
        state[module] = "on path"
        for name in sorted(graph[module]):
            if state.get(name) == "on path":
                raise AssertionError("import cycle: " + " -> ".join(path + [module, name]))
            if name not in state:
                visit(name, path + [module])
        state[module] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module, [])


def test_the_numerical_core_loads_neither_matplotlib_nor_the_commands():
    code = ("import sys, imagelab.autograd.tensor, imagelab.autograd.nn, imagelab.nn.layers, "
            "imagelab.nn.conv, imagelab.nn.network; "
            "print(sorted(m for m in sys.modules if m.startswith(('matplotlib', 'imagelab.cli', "
            "'imagelab.viz', 'knn', 'mlp', 'read_cifar'))))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True,
                         capture_output=True, text=True).stdout
    assert out.strip() == "[]"


def test_the_layout_test_catches_what_it_should(tmp_path):
    """The checks above see a lab-script import, an import in a function, a wrong direction."""
    bad = tmp_path / "bad.py"
    bad.write_text("import knn\nfrom imagelab.cli import arguments\n\n"
                   "def f():\n    from imagelab.viz import figures\n    import mlp\n")
    found = imports(str(bad))
    assert ("knn", 1, False) in found and ("imagelab.cli.arguments", 2, False) in found
    assert ("imagelab.viz.figures", 5, True) in found and ("mlp", 6, True) in found
    assert subpackage("imagelab.cli.arguments") not in ALLOWED["nn"]
