"""The project's imports point one way: from the entry points down to the base helpers.

Each module is read with ``ast`` (nothing is imported). The layers, as the README
draws them; a module may import modules of its own layer or of a layer below:

    0 base helpers   imagelab.checks, progress, files, images, preprocessing, download,
                     idx, allocator, machine
    1 data readers   read_cifar, imagelab.arguments, data, datasets, descriptors
    2 the lab        knn, mlp
    3 the extras     imagelab.cross_validation, figures, layers, nn_layers, losses,
                     optimizers, model, training, two_class, autograd, autograd_nn,
                     autograd_optim, autograd_data, autograd_tasks, conv, batchnorm,
                     cnn, augment, model_files, robustness, whitening, averaging,
                     tta, recipe
    4 entry points   imagelab.knn_study, mlp_study, train, numpy_nn, toy, framework_lab,
                     train_cnn, classify, robustness_study, train_recipe, ablation

A new module must be given its layer here, which is the point: where it sits is a
decision, not an accident.
"""
import ast
import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

LAYERS = {
    "imagelab": 0,
    "imagelab.checks": 0, "imagelab.progress": 0, "imagelab.files": 0,
    "imagelab.images": 0, "imagelab.preprocessing": 0, "imagelab.download": 0,
    "imagelab.idx": 0, "imagelab.allocator": 0, "imagelab.machine": 0,
    "read_cifar": 1, "imagelab.arguments": 1, "imagelab.data": 1, "imagelab.descriptors": 1,
    "imagelab.datasets": 1,
    "knn": 2, "mlp": 2,
    "imagelab.cross_validation": 3, "imagelab.figures": 3, "imagelab.layers": 3,
    "imagelab.losses": 3, "imagelab.optimizers": 3, "imagelab.model": 3,
    "imagelab.training": 3, "imagelab.nn_layers": 3, "imagelab.two_class": 3,
    "imagelab.autograd": 3, "imagelab.autograd_nn": 3, "imagelab.autograd_optim": 3,
    "imagelab.autograd_data": 3, "imagelab.autograd_tasks": 3,
    "imagelab.conv": 3, "imagelab.batchnorm": 3, "imagelab.cnn": 3, "imagelab.augment": 3,
    "imagelab.model_files": 3, "imagelab.robustness": 3, "imagelab.whitening": 3,
    "imagelab.averaging": 3, "imagelab.tta": 3, "imagelab.recipe": 3,
    "imagelab.numpy_nn": 4,
    "imagelab.knn_study": 4, "imagelab.mlp_study": 4, "imagelab.train": 4,
    "imagelab.toy": 4, "imagelab.framework_lab": 4, "imagelab.train_cnn": 4,
    "imagelab.classify": 4, "imagelab.robustness_study": 4, "imagelab.train_recipe": 4,
    "imagelab.ablation": 4,
}


def project_modules():
    """Module name -> path of every module of the project (the lab's and the package's)."""
    modules = {name[:-3]: os.path.join(ROOT, name)
               for name in os.listdir(ROOT) if name.endswith(".py")}
    package = os.path.join(ROOT, "imagelab")
    for name in os.listdir(package):
        if name.endswith(".py"):
            module = "imagelab" if name == "__init__.py" else f"imagelab.{name[:-3]}"
            modules[module] = os.path.join(package, name)
    return modules


MODULES = project_modules()


def imports(path):
    """(module imported, line, inside a function) for each project import of a file."""
    tree = ast.parse(open(path, encoding="utf-8").read(), path)
    found = []

    def visit(node, in_function):
        for child in ast.iter_child_nodes(node):
            inside = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef,
                                                       ast.Lambda))
            if isinstance(child, ast.Import):
                names = [alias.name for alias in child.names]
            elif isinstance(child, ast.ImportFrom) and child.level == 0:
                # "from imagelab import checks" imports the module imagelab.checks.
                names = [f"{child.module}.{alias.name}" if f"{child.module}.{alias.name}"
                         in MODULES else child.module for alias in child.names]
            else:
                names = []
            found.extend((name, child.lineno, inside) for name in names
                         if name.split(".")[0] in ("imagelab", "knn", "mlp", "read_cifar"))
            visit(child, inside)

    visit(tree, False)
    return found


def test_the_root_holds_only_the_labs_modules():
    root_modules = sorted(name for name, path in MODULES.items()
                          if os.path.dirname(path) == ROOT)
    assert root_modules == ["knn", "mlp", "read_cifar"]


def test_every_module_has_a_layer():
    assert sorted(MODULES) == sorted(LAYERS), "give each new module its layer in LAYERS"


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_project_import_inside_a_function(module):
    inside = [f"line {line}: {name}" for name, line, in_function in imports(MODULES[module])
              if in_function]
    assert not inside, f"{module} imports project modules inside functions: {inside}"


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_point_down_the_layers(module):
    upward = [f"line {line}: {name} (layer {LAYERS.get(name)})"
              for name, line, _ in imports(MODULES[module])
              if LAYERS.get(name, 99) > LAYERS.get(module, -1)]
    assert not upward, f"{module} (layer {LAYERS.get(module)}) imports upwards: {upward}"


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


def test_the_layout_test_catches_what_it_should(tmp_path):
    """The checks above fail on an upward import, an import in a function, a cycle."""
    bad = tmp_path / "bad.py"
    bad.write_text("import knn\n\ndef f():\n    from imagelab import figures\n    import mlp\n")
    found = imports(str(bad))
    assert ("knn", 1, False) in found
    assert ("imagelab.figures", 4, True) in found and ("mlp", 5, True) in found
