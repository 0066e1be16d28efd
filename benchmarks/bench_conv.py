"""How fast do the convolutional networks train, and how much memory do they take?

On two CIFAR-10 nets, 32 x 32 x 3 inputs:
``conv4(10)`` (four 3 x 3 convolutions with batch norm, 32-32-pool-64-64-pool, dense
512; batch 128) and the fast recipe's ``airbench(10)`` (a 2 x 2 whitening convolution,
three blocks of widths 64-256-256, GELU, global max pooling; micro-batches of 256, steps
of 1,024 images), this prints:

1. for each convolution, at the training batch size, the time of ``Conv2d.forward``
   followed by ``Conv2d.backward`` (``need_dx`` as in training: False for the first
   layer) over the time of the matrix products that pair does, alone, on random arrays
   of the same shapes, dtypes and layouts, by the route the layer takes. By im2col:
   forward cols @ W; backward cols.T @ dout (with a bias, cols has its column of ones
   and W the row b, as in the layer); and for dC/dx, where ``Conv2d`` takes that
   route, the window matrix of the padded dout times the turned weights, otherwise
   dout @ W.T before ``col2im``. By Winograd (``imagelab.nn.winograd``), in each pass:
   the tiles' transform, the 36 products of the transformed tiles by the transformed
   weights (by dM for dW), and the transform back. Goal: at most 1.25x. For those
   layers, the same layer by im2col too (``algorithm="im2col"``). All are timed
   alternately in the same process (the machines are shared and noisy) and medians
   are kept. With ``--kernels``, the tables are made once per
   OpenBLAS kernel (``OPENBLAS_CORETYPE`` must be set before NumPy loads, so each
   kernel runs in its own process);
2. images per second of a whole training step (forward, loss, backward, optimizer
   step) of conv4 (SGD with momentum and weight decay), of conv4 without its batch
   norms, of LeNet, and of the recipe (label smoothing, Nesterov SGD per parameter
   group, at 256 images and at 1,024 as 4 micro-batches), and what conv4's input
   pipeline (uint8 rows -> crops with padding 4, mirror images, normalisation) adds;
3. when PyTorch is installed, the same nets' training steps in PyTorch with
   ``torch.set_num_threads`` equal to our BLAS's thread count, and our time over
   theirs (goals: at most 1.5x for conv4, 1.25x for the recipe's net). Both sides are
   timed in fresh processes, ours with ``OPENBLAS_THREAD_TIMEOUT`` unset as in
   imagelab's commands, alternated over ``--rounds`` rounds. PyTorch is never a
   dependency: without it, this part is skipped with a message; then what the threads
   buy: conv4's and the recipe's steps run on one thread, on two with the BLAS left at
   its own threads, and on two with the BLAS held at one thread (imagelab's way), each
   with and without glibc keeping freed memory, in processes where
   ``OPENBLAS_THREAD_TIMEOUT`` is unset, as in a program that imports imagelab;
4. the peak memory (maximum resident set size) of a process that runs the training
   as ``imagelab train-cnn`` does: a uint8 dataset of CIFAR-10's size held in
   memory (50,000 + 10,000 random images), its training rows copied out, conv4 trained
   through ``imagelab.training.loop.train`` with an ``ImagePipeline`` (pad 4, flip) for one
   epoch on a subset, then the validation split and the 10,000 test images evaluated
   (goal: at most 2 GB); then the same for the recipe as ``python -m
   imagelab.cli.train_recipe`` runs it: two steps of 1,024 images, the test images
   evaluated at every test-time augmentation level (goal: at most 2 GB). The trainers
   record the real runs' peaks (loading the float32 dataset included) in
   ``results/cnn_conv4.json`` and ``results/recipe.json``, key ``peak_memory_mb``;
   they are printed too when those files exist.

glibc is asked to keep freed memory (``imagelab.utils.allocator``), as the trainers do.

Usage:  python benchmarks/bench_conv.py [--batch-size 128] [--repeats 7] [--rounds 3]
                                        [--kernels unset Haswell SkylakeX ...] [--quick]
                                        [--parts layers steps torch levers memory]
Random data; speed does not depend on the values. ``--quick`` is a smoke test (tiny
batch, few repeats, small memory run): its numbers mean nothing.
"""
import argparse
import contextlib
import copy
import dataclasses
import importlib.util
import json
import math
import os
import platform
import resource
import subprocess
import sys
import threading
import time
from functools import partial
from statistics import median

# The reference products run on OpenBLAS's own threads, after which its idle worker
# spins on the other core for a while and would slow the layer timed next: it is told
# to sleep at once. (The layers themselves never wake it: they hold the BLAS at one
# thread.) This must be set before NumPy loads OpenBLAS. The workers that time our
# training steps stand for a program that imports imagelab, or for imagelab's own
# commands, which have no such setting: they leave it unset.
if sys.argv[1:3] not in (["--worker", "levers"], ["--worker", "ours"]):
    os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")

import numpy as np  # noqa: E402
from threadpoolctl import threadpool_info  # noqa: E402

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir)
sys.path.insert(0, ROOT)
from imagelab.utils.allocator import keep_freed_memory  # noqa: E402
from imagelab.data.augment import ImagePipeline  # noqa: E402
from imagelab.nn.architectures import airbench, build, conv4, lenet  # noqa: E402
import imagelab.nn.conv as conv_module  # noqa: E402
from imagelab.nn.batchnorm import BatchNorm  # noqa: E402
from imagelab.nn.conv import Conv2d, GlobalMaxPool, MaxPool2d  # noqa: E402
from imagelab.nn.layers import GELU, Dense, Layer, ReLU  # noqa: E402
from imagelab.utils import parallel  # noqa: E402
from imagelab.utils.machine import cpu_name  # noqa: E402
from imagelab.nn.optim import SGD  # noqa: E402
from imagelab.nn import winograd  # noqa: E402
from imagelab.recipes.airbench import (Recipe, Trainer, build_network, train_recipe,  # noqa: E402
                             tta_accuracies)
from imagelab.training.loop import evaluate, train  # noqa: E402

SHAPE = (32, 32, 3)               # CIFAR-10 images, channels last
CLASSES = 10
WEIGHT_DECAY = 5e-4               # imagelab.cli.train_cnn's default
LEARNING_RATE = 1e-3              # small: the random batch is seen again and again
LAYER_GOAL = 1.25                 # forward + backward over its products
TORCH_GOALS = {"conv4": 1.5, "airbench": 1.25}     # our training step over PyTorch's
MEMORY_GOALS_MB = {"conv4": 2048, "airbench": 2048}
N_TRAIN, N_TEST, N_VAL = 50_000, 10_000, 1_000   # CIFAR-10; train_cnn holds out 2%
RECORDS = {"conv4": os.path.join(ROOT, "results", "cnn_conv4.json"),
           "airbench": os.path.join(ROOT, "results", "recipe.json")}
NETS = {"conv4": conv4(CLASSES), "airbench": airbench(CLASSES)}
RECIPE = Recipe()                 # airbench's hyperparameters: steps of 1,024, micro-batches of 256
PARTS = ("layers", "steps", "torch", "levers", "memory")   # the sections 1, 2, 3, 3b and 4 below


# --- The machine --------------------------------------------------------------------

def blas_info():
    """threadpoolctl's record of NumPy's BLAS in this process (``architecture`` is the
    kernel OpenBLAS picked, ``num_threads`` its threads), or {} if it finds none."""
    found = [info for info in threadpool_info() if info["user_api"] == "blas"]
    return found[0] if found else {}


def blas_kernel():
    """The kernel the BLAS picked in this process, or "?"."""
    return blas_info().get("architecture", "?")


def blas_threads():
    """Threads of NumPy's matrix products: the BLAS's own count, else the cores."""
    return blas_info().get("num_threads") or os.cpu_count()


def blas_name():
    """Name and version of the BLAS NumPy was built with, from ``np.show_config``."""
    try:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        return f"{blas['name']} {blas['version']}"
    except (TypeError, KeyError):         # NumPy < 1.26 has no mode="dicts"
        return "BLAS ?"


def header(kept_memory):
    print(f"CPU: {cpu_name()}, {os.cpu_count()} logical cores; Python "
          f"{platform.python_version()}, NumPy {np.__version__}, {blas_name()} (kernel "
          f"{blas_kernel()}, threads {blas_threads()}); glibc keeps freed memory: "
          f"{'yes' if kept_memory else 'no'}", flush=True)


# --- Timing helpers -----------------------------------------------------------------

def seconds(function):
    """Wall time of one call."""
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def random_array(rng, shape):
    return rng.standard_normal(shape, dtype=np.float32)


# --- 1. Each convolution against its matrix products -------------------------------

def conv_layers(network, input_shape):
    """(index, layer, its input shape, need_dx) of each Conv2d, need_dx as in training."""
    shapes = [tuple(input_shape)] + network.output_shapes(input_shape)
    return [(i, layer, shapes[i], i > 0) for i, layer in enumerate(network.layers)
            if isinstance(layer, Conv2d)]


def short_name(layer):
    """'conv 3->32 3x3 s1 p1' for a Conv2d."""
    (kh, kw), stride, padding = layer.kernel, layer.stride, layer.padding
    return f"conv {layer.c_in}->{layer.c_out} {kh}x{kw} s{stride} p{padding}"


def conv_products(layer, input_shape, batch, need_dx, rng):
    """The matrix products of one forward and backward pass of ``layer``, on random arrays,
    by the route the layer takes on ``input_shape`` (``Conv2d.uses_winograd``).

    Returns
    -------
    list of (name, a, b)
        ``a @ b`` is one product the layer does, with the same shapes, dtype and memory
        layout (``a`` may be a transposed view, as ``cols.T`` is in the layer); ``name``
        is its pass, "forward", "dW" or "dx", and a pass may do several.
    """
    if layer.uses_winograd(input_shape):
        return winograd_products(layer, input_shape, batch, need_dx, rng)
    h, w, c_in = input_shape
    h_out, w_out, c_out = layer.output_shape(input_shape)
    (kh, kw), m = layer.kernel, batch * h_out * w_out
    # The window matrix and W; with a bias, the layer's window matrix has a column of
    # ones and W the row b below it, which add b in the forward product and give dC/db
    # in dW's.
    bias = layer.b is not None
    cols = random_array(rng, (m, kh * kw * c_in + bias))
    weights = random_array(rng, (kh * kw * c_in + bias, c_out))
    rows = random_array(rng, (m, c_out))                        # dC/dout, one row a pixel
    products = [("forward", cols, weights), ("dW", cols.T, rows)]
    if not need_dx:
        return products
    if layer.dx_as_convolution():                                # _backward_as_convolution
        padded_cols = random_array(rng, (batch * h * w, kh * kw * c_out))
        turned = random_array(rng, (kh * kw * c_out, c_in))
        return products + [("dx", padded_cols, turned)]
    return products + [("dx", rows, layer.w.value.reshape(-1, c_out).T)]   # then col2im


def winograd_products(layer, input_shape, batch, need_dx, rng):
    """``conv_products`` on Winograd's route, as ``Conv2d`` does them, each transform of
    tiles (L X L^T) as its two products by L (``winograd._both_sides``). Forward: B^T on
    the input's tiles, the 36 products V[xi] @ U[xi], A^T on M. dW: A on dC/dout's 4 x 4
    blocks, V[xi]^T @ dM[xi] (and B^T on the input's tiles again, when the layer does not
    keep them). dx: dM[xi] @ U[xi]^T, then B on dV."""
    h_out, w_out, c_out = layer.output_shape(input_shape)
    c_in = input_shape[2]
    tiles = batch * winograd.tiles(h_out) * winograd.tiles(w_out)

    def both_sides(name, matrix, channels):
        l, k = matrix.shape
        left = matrix.astype(np.float32)
        return [(name, left, random_array(rng, (k, k, tiles * channels))),      # (k, l, m)
                (name, left, random_array(rng, (k, l * tiles * channels)))]

    v = random_array(rng, (36, tiles, c_in))
    d_m = random_array(rng, (36, tiles, c_out))
    products = (both_sides("forward", winograd.BT, c_in)
                + [("forward", v, random_array(rng, (36, c_in, c_out)))]
                + both_sides("forward", winograd.AT, c_out)
                + both_sides("dW", winograd.AT.T, c_out)
                + [("dW", v.transpose(0, 2, 1), d_m)])
    if v.nbytes > conv_module.KEEP_TILES_BYTES:                  # V made again
        products += both_sides("dW", winograd.BT, c_in)
    if need_dx:
        products += ([("dx", d_m, random_array(rng, (36, c_out, c_in)))]
                     + both_sides("dx", winograd.BT.T, c_in))
    return products


def flops(products):
    """Multiply-adds times 2 of products a @ b, a (..., m, n) by b (..., n, p), the
    stacks of matrices broadcast against each other."""
    return sum(2 * math.prod(np.broadcast_shapes(a.shape[:-2], b.shape[:-2])) * a.shape[-2]
               * a.shape[-1] * b.shape[-1] for _, a, b in products)


def time_conv_layer(layer, input_shape, batch, need_dx, repeats, rng):
    """Median seconds of the layer's forward + backward, of all its products, of each
    pass's products (forward, dW, dx), and, if it takes Winograd's route, of the same
    layer by im2col's (else None).

    The measurements alternate, so that all see the same machine load; one round of
    each is run first and not counted (first-touch of the memory).
    """
    x = random_array(rng, (batch, *input_shape))
    d_out = random_array(rng, (batch, *layer.output_shape(input_shape)))
    products = conv_products(layer, input_shape, batch, need_dx, rng)
    by_im2col = copy.copy(layer)                                # the same weights
    by_im2col.algorithm = "im2col"

    def layer_pass(which):
        which.forward(x, training=True)
        which.backward(d_out, need_dx)

    layer_times, im2col_times, product_times = [], [], []
    for _ in range(repeats + 1):
        layer_times.append(seconds(partial(layer_pass, layer)))
        if layer.uses_winograd(input_shape):
            im2col_times.append(seconds(partial(layer_pass, by_im2col)))
        product_times.append([seconds(partial(np.matmul, a, b)) for _, a, b in products])
    product_times = np.array(product_times[1:])
    passes = list(dict.fromkeys(name for name, _, _ in products))   # in order
    each = [np.median(product_times[:, [name == p for p, _, _ in products]].sum(axis=1))
            for name in passes]
    return (median(layer_times[1:]), np.median(product_times.sum(axis=1)), each, products,
            median(im2col_times[1:]) if im2col_times else None)


def layer_table(net, batch, repeats):
    """Print, for each convolution of ``net``, forward + backward over its products."""
    rng = np.random.default_rng(0)
    network = build(NETS[net], SHAPE, seed=0)
    kernel = os.environ.get("OPENBLAS_CORETYPE", "unset")
    print(f"\nEach convolution of {net}, batch {batch}, forward + backward over its matrix "
          f"products (medians of {repeats}; OPENBLAS_CORETYPE {kernel}, kernel "
          f"{blas_kernel()}); goal <= {LAYER_GOAL}x", flush=True)
    print(f"{'layer (route)':<36} {'input':>8} {'fwd+bwd':>9} {'products':>9}  "
          f"{'forward / dW / dx ms':<21} {'GFLOP/s':>7}  ratio  {'by im2col':>9}")
    total_layer = total_products = total_im2col = 0.0
    for index, layer, shape, need_dx in conv_layers(network, SHAPE):
        whole, products, each, arrays, im2col = time_conv_layer(layer, shape, batch, need_dx,
                                                                repeats, rng)
        parts = " / ".join(f"{t * 1e3:.1f}" for t in each) + ("" if need_dx else " / -")
        route = "winograd" if im2col else "im2col"
        print(f"{index:>2} {short_name(layer) + ' ' + route:<33} {'x'.join(map(str, shape)):>8} "
              f"{whole * 1e3:7.1f}ms {products * 1e3:7.1f}ms  {parts:<21} "
              f"{flops(arrays) / products / 1e9:7.1f}  {whole / products:.2f}x  "
              f"{f'{im2col * 1e3:7.1f}ms' if im2col else '-':>9}", flush=True)
        total_layer, total_products = total_layer + whole, total_products + products
        total_im2col += im2col or whole
    print(f"{'all':<45} {total_layer * 1e3:7.1f}ms {total_products * 1e3:7.1f}ms  "
          f"{'':<21} {'':>7}  {total_layer / total_products:.2f}x  {total_im2col * 1e3:7.1f}ms",
          flush=True)
    print("  (by im2col: the same layer with algorithm='im2col', for those that take "
          "Winograd's route;\n  its 'all' counts the others' own time)", flush=True)


def layer_tables(batches, repeats, kernels):
    """The tables of both nets once per OpenBLAS kernel, each kernel in its own process."""
    for kernel in kernels:
        env = {key: value for key, value in os.environ.items() if key != "OPENBLAS_CORETYPE"}
        if kernel != "unset":
            env["OPENBLAS_CORETYPE"] = kernel
        subprocess.run([sys.executable, __file__, "--worker", "layers", "--batch-size",
                        str(batches["conv4"]), "--micro-batch", str(batches["airbench"]),
                        "--repeats", str(repeats)], env=env, check=True)


# --- 2. Whole training steps --------------------------------------------------------

def training_step(spec, batch, rng):
    """One training step (forward, loss, backward, SGD step) on a random batch, as a
    function of no argument, and its network."""
    network = build(spec, SHAPE, seed=0)
    optimizer = SGD(network.parameters(), momentum=0.9)
    x = random_array(rng, (batch, *SHAPE))
    labels = rng.integers(0, CLASSES, size=batch)

    def step():
        network.loss_and_gradients(x, labels, weight_decay=WEIGHT_DECAY)
        optimizer.step(LEARNING_RATE)

    return step, network


def median_seconds(step, repeats):
    """Median wall time of ``step`` over ``repeats`` calls, after one not counted
    (first-touch of the memory)."""
    step()
    return median(seconds(step) for _ in range(repeats))


def pipeline_seconds(batch, repeats, rng):
    """Median seconds of the input pipeline on one batch of uint8 rows (pad 4, flip)."""
    pipeline = ImagePipeline(SHAPE, np.full(3, 120, np.float32), np.full(3, 60, np.float32),
                             pad=4, flip=True)
    rows = rng.integers(0, 256, size=(batch, int(np.prod(SHAPE))), dtype=np.uint8)
    return median(seconds(lambda: pipeline.training(rows, rng)) for _ in range(repeats))


def recipe_step(batch, micro_batch, repeats, rng):
    """One training step of the recipe on ``batch`` random images
    (``imagelab.recipes.airbench.Trainer.batch_step``: forward and backward of each
    micro-batch with label smoothing, their gradients added up, the Nesterov SGD step of
    each parameter group, the lookahead), while the whitening layer's bias still
    learns; and its network. ``repeats``: steps the schedule is made for."""
    recipe = dataclasses.replace(RECIPE, batch_size=batch, micro_batch=micro_batch)
    images = random_array(rng, (512, *SHAPE))
    _, network = build_network(recipe, SHAPE, CLASSES, images, seed=0)
    trainer = Trainer(network, recipe, total=repeats + 1)
    trained, trained_from = trainer.trained(0)
    x = random_array(rng, (batch, *SHAPE))
    labels = rng.integers(0, CLASSES, size=batch)
    parts = [(x[m], labels[m]) for m in np.array_split(np.arange(batch),
                                                        -(-batch // micro_batch))]

    def step():
        trainer.batch_step(parts, trained, trained_from)

    return step, network


def training_steps(batch, micro_batch, repeats):
    """Print images per second of the training steps of conv4, conv4 without its batch
    norms (what they cost), LeNet and the recipe's net, then where the steps of conv4
    and of the recipe (one pass) spend their time."""
    rng = np.random.default_rng(1)
    print(f"\nWhole training step (forward, loss, backward, SGD with momentum and weight "
          f"decay), batch {batch}, median of {repeats}:", flush=True)
    times, profiled = {}, {}
    for name, spec in (("conv4", conv4(CLASSES)),
                       ("conv4 without batch norm", conv4(CLASSES, batch_norm=False)),
                       ("lenet", lenet(CLASSES))):
        step, network = training_step(spec, batch, rng)
        times[name] = median_seconds(step, repeats)
        if name == "conv4":
            profiled[f"conv4, {batch} images"] = step, network
        print(f"  {name:<24} {times[name] * 1e3:8.1f} ms a step, "
              f"{batch / times[name]:8,.0f} images/s", flush=True)
    extra = pipeline_seconds(batch, repeats, rng)
    print(f"  input pipeline (uint8 -> crop with padding 4, mirror, normalise): "
          f"{extra * 1e3:.1f} ms a batch, {extra / times['conv4']:.0%} of conv4's step; "
          f"conv4 with it: {batch / (times['conv4'] + extra):,.0f} images/s", flush=True)
    for images in (micro_batch, RECIPE.batch_size):
        name = f"airbench {images}"
        step, network = recipe_step(images, micro_batch, 2 * repeats + 2, rng)
        times[name] = median_seconds(step, repeats)
        if images == micro_batch:
            profiled[f"recipe, {images} images"] = step, network
        how = (f"{images // micro_batch} micro-batches of {micro_batch}"
               if images > micro_batch else "one pass")
        print(f"  {'recipe, ' + str(images) + ' images':<24} {times[name] * 1e3:8.1f} ms a step "
              f"({how}), {images / times[name]:8,.0f} images/s", flush=True)
    print(f"\nWhere each step's time goes, in core-milliseconds (each core's time counted, "
          f"{parallel.threads()} cores x the wall time), over {repeats} steps:", flush=True)
    for name, (step, network) in profiled.items():
        print_profile(name, step, network, repeats)


# --- 2b. Where a step's time goes ---------------------------------------------------

RUN = parallel.run                # the real one, which the profile wraps
KINDS = {Conv2d: "convolutions, rest", BatchNorm: "batch norms", ReLU: "activations",
         GELU: "activations", MaxPool2d: "pooling", GlobalMaxPool: "pooling",
         Dense: "dense layers, rest"}
NESTED = ("matrix products", "window copies", "Winograd's transforms")  # timed in the passes


class StepProfile:
    """Core-milliseconds of a training step by kind of work, from the threads themselves.

    While installed, every layer's forward and backward names the kind of work its
    passes do; every ``imagelab.utils.parallel.run`` times each part in the thread that
    runs it; ``np.matmul``, the window copies (``im2col``, ``col2im``) and Winograd's
    transforms of tiles (their copies and products) are timed inside those parts and
    taken out of their layer's kind. What the calling thread
    does outside the parts (loss, optimizer, Python) is "outside the threads"; a core
    waiting for the other is "idle". The kinds add up to cores x wall time.
    """

    def __init__(self, network):
        self.busy, self.idle, self.kind = {}, 0.0, "outside the threads"
        self.local = threading.local()
        self.lock = threading.Lock()
        self.patches = [(parallel, "run", self.timed_run),
                        (np, "matmul", self.nested(np.matmul, NESTED[0])),
                        (conv_module, "im2col", self.nested(conv_module.im2col, NESTED[1])),
                        (conv_module, "col2im", self.nested(conv_module.col2im, NESTED[1]))]
        self.patches += [(winograd, name, self.nested(getattr(winograd, name), NESTED[2]))
                         for name in ("pad_to_tiles", "transform_input", "transform_output",
                                      "output_gradient", "input_gradient")]
        self.patches += [(layer, name, self.named(getattr(layer, name), layer))
                         for layer in network.layers for name in ("forward", "backward")]

    def __enter__(self):
        self.saved = [(owner, name, getattr(owner, name)) for owner, name, _ in self.patches]
        for owner, name, function in self.patches:
            setattr(owner, name, function)
        return self

    def __exit__(self, *exc):
        for owner, name, function in self.saved:
            if isinstance(owner, Layer):
                delattr(owner, name)                   # back to the class's method
            else:
                setattr(owner, name, function)

    def add(self, kind, seconds):
        with self.lock:
            self.busy[kind] = self.busy.get(kind, 0.0) + seconds

    def named(self, method, layer):
        """``method`` of ``layer``, its passes counted under the layer's kind."""
        def call(*args, **kwargs):
            self.kind = KINDS.get(type(layer), "other layers")
            try:
                return method(*args, **kwargs)
            finally:
                self.kind = "outside the threads"
        return call

    def nested(self, function, kind):
        """``function``, timed as ``kind`` and taken out of the part that calls it (outside
        a part, it stays "outside the threads"). Called from inside another such function
        (a product inside a Winograd transform), it counts as the outer one's kind."""
        def call(*args, **kwargs):
            if not getattr(self.local, "in_part", False) or self.local.in_nested:
                return function(*args, **kwargs)
            start, self.local.in_nested = time.perf_counter(), True
            try:
                return function(*args, **kwargs)
            finally:
                spent = time.perf_counter() - start
                self.local.in_nested = False
                self.add(kind, spent)
                self.local.nested += spent
        return call

    def timed_run(self, function, parts, *per_part):
        """``parallel.run``, each part timed in its thread; the caller's wait is idle."""
        kind, main = self.kind, threading.get_ident()
        spans = {}

        def part(*args):
            self.local.nested, self.local.in_part, self.local.in_nested = 0.0, True, False
            start = time.perf_counter()
            try:
                return function(*args)
            finally:
                spent = time.perf_counter() - start
                self.local.in_part = False
                self.add(kind, spent - self.local.nested)
                spans[threading.get_ident()] = spent
        start = time.perf_counter()
        results = RUN(part, parts, *per_part)
        wall = time.perf_counter() - start
        with self.lock:                           # each core not in a part was waiting
            self.idle += wall - spans.get(main, 0.0)
            self.idle += sum(wall - spent for thread, spent in spans.items() if thread != main)
            self.idle += wall * (parallel.threads() - len(spans))
            self.runs += wall
        return results

    def measure(self, step, repeats):
        """Run ``step`` ``repeats`` times; return {kind: core-ms a step} and wall ms."""
        self.runs, total = 0.0, 0.0
        for _ in range(repeats):
            total += seconds(step)
        between = total - self.runs              # outside any run: one core busy, the
        shares = dict(self.busy)                 # others idle
        shares["outside the threads"] = between
        shares["idle"] = self.idle + (parallel.threads() - 1) * between
        return ({kind: 1e3 * value / repeats for kind, value in shares.items()},
                1e3 * total / repeats)


def print_profile(name, step, network, repeats):
    """Print where ``step``'s time goes, by kind, in core-ms and in shares."""
    step()                                              # first-touch of the memory
    with StepProfile(network) as profile:
        shares, wall = profile.measure(step, repeats)
    cores = parallel.threads()
    print(f"  {name}: {wall:.0f} ms a step (timers on), {cores} cores: {cores * wall:.0f} "
          f"core-ms", flush=True)
    for kind, value in sorted(shares.items(), key=lambda item: -item[1]):
        print(f"    {kind:<22} {value:8.1f} core-ms  {value / (cores * wall):6.1%}", flush=True)


# --- 3. PyTorch ---------------------------------------------------------------------

def torch_network(spec, input_shape):
    """The network ``spec`` describes, built in PyTorch (NCHW, its default layout)."""
    import torch
    from torch import nn

    class Scale(nn.Module):
        def __init__(self, factor):
            super().__init__()
            self.factor = factor

        def forward(self, x):
            return x * self.factor

    network = build(spec, input_shape, seed=0)       # for each layer's input shape
    shapes = [tuple(input_shape)] + network.output_shapes(input_shape)
    layers = []
    for (kind, *args), shape in zip(spec, shapes):
        options = args.pop() if args and isinstance(args[-1], dict) else {}
        if kind == "conv":
            layers.append(nn.Conv2d(shape[-1], *args, bias=options.get("bias", True)))
        elif kind == "bn":
            norm = (nn.BatchNorm2d if len(shape) == 3 else nn.BatchNorm1d)(
                shape[-1], eps=options.get("eps", 1e-5), momentum=options.get("momentum", 0.1))
            norm.weight.requires_grad = options.get("scale", True)
            layers += [norm, nn.ReLU()] if options.get("relu") else [norm]
        elif kind == "pool":
            layers.append(nn.MaxPool2d(*args))
        elif kind == "dense":
            layers.append(nn.Linear(shape[0], *args, bias=options.get("bias", True)))
        elif kind == "gmaxpool":
            layers += [nn.AdaptiveMaxPool2d(1), nn.Flatten()]
        elif kind == "scale":
            layers.append(Scale(*args))
        else:
            layers.append({"relu": nn.ReLU, "flatten": nn.Flatten, "dropout": nn.Dropout,
                           "gelu": partial(nn.GELU, approximate="tanh")}[kind](*args))
    return nn.Sequential(*layers).to(memory_format=torch.channels_last)


def torch_optimizer(net, network):
    """conv4: SGD with momentum and weight decay; the recipe: Nesterov SGD, two groups."""
    import torch
    if net == "conv4":
        return torch.optim.SGD(network.parameters(), lr=LEARNING_RATE, momentum=0.9,
                               weight_decay=WEIGHT_DECAY)
    norm = [p for m in network.modules() if isinstance(m, torch.nn.BatchNorm2d)
            for p in m.parameters() if p.requires_grad]
    rest = [p for p in network.parameters()
            if p.requires_grad and all(p is not q for q in norm)]
    return torch.optim.SGD([{"params": norm, "lr": 64e-5}, {"params": rest, "lr": 1e-5}],
                           momentum=0.85, nesterov=True, weight_decay=1e-3)


def torch_worker(net, batch, micro_batch, repeats, threads):
    """Time PyTorch's training step of ``net`` in this process; print one JSON line.

    The recipe's step is timed on ``batch`` images in one pass (PyTorch needs no
    micro-batches for memory), and on ``micro_batch`` images.
    """
    import torch
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    network = torch_network(NETS[net], SHAPE).train()
    if net == "airbench":
        network[0].weight.requires_grad = False          # the whitening layer is frozen
    optimizer = torch_optimizer(net, network)
    smoothing = 0.0 if net == "conv4" else RECIPE.label_smoothing
    h, w, c = SHAPE
    result = {"version": torch.__version__, "threads": torch.get_num_threads()}
    for images in ([batch] if net == "conv4" else [micro_batch, RECIPE.batch_size]):
        x = torch.randn(images, c, h, w).to(memory_format=torch.channels_last)
        labels = torch.randint(0, CLASSES, (images,))

        def step():
            optimizer.zero_grad(set_to_none=True)
            torch.nn.functional.cross_entropy(network(x), labels,
                                              label_smoothing=smoothing).backward()
            optimizer.step()

        for _ in range(3):                           # oneDNN builds its kernels first
            step()
        result[str(images)] = median(seconds(step) for _ in range(repeats))
    print(json.dumps(result))


def ours_worker(net, batch, micro_batch, repeats):
    """Time our training step of ``net`` in this process, as ``torch_worker`` times
    PyTorch's; print one JSON line: median seconds by number of images."""
    rng = np.random.default_rng(1)
    if net == "conv4":
        result = {str(batch): median_seconds(training_step(NETS[net], batch, rng)[0],
                                             repeats)}
    else:
        result = {str(images): median_seconds(recipe_step(images, micro_batch, repeats + 1,
                                                          rng)[0], repeats)
                  for images in (micro_batch, RECIPE.batch_size)}
    print(json.dumps(result))


def worker_result(kind, net, batches, repeats, threads):
    """Run the ``kind`` worker ("ours" or "torch") on ``net`` in a fresh process; return
    its JSON line, or raise RuntimeError with the last line of its error output."""
    done = subprocess.run([sys.executable, __file__, "--worker", kind, "--net", net,
                           "--batch-size", str(batches["conv4"]), "--micro-batch",
                           str(batches["airbench"]), "--repeats", str(repeats),
                           "--threads", str(threads)],
                          check=False, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError((done.stderr.strip().splitlines() or ["no message"])[-1])
    return json.loads(done.stdout.strip().splitlines()[-1])


def compare_with_torch(batches, repeats, rounds):
    """Print our step times over PyTorch's. Each side runs in a fresh process, as a
    training would, and the two alternate for ``rounds`` rounds, so that a slow spell of
    the machine falls on both; the medians over the rounds are compared."""
    print(f"\nPyTorch, same nets and steps, each side in a process of its own, the two "
          f"alternated (rounds: {rounds}; ms a step, median of the rounds' medians of "
          f"{repeats}):", flush=True)
    if importlib.util.find_spec("torch") is None:
        print("  PyTorch is not installed: comparison skipped (it is never a dependency; "
              "install it in a separate environment to compare)", flush=True)
        return
    threads = blas_threads()
    for net in NETS:
        found = {"ours": [], "torch": []}
        try:
            for _ in range(rounds):
                for kind, results in found.items():
                    results.append(worker_result(kind, net, batches, repeats, threads))
        except RuntimeError as error:
            print(f"  a worker failed on {net}, comparison skipped: {error}", flush=True)
            continue
        version, used = found["torch"][0]["version"], found["torch"][0]["threads"]
        for images in (key for key in found["torch"][0] if key.isdigit()):
            mine, theirs = (median(result[images] for result in found[kind])
                            for kind in ("ours", "torch"))
            spread = ", ".join(f"{o[images] / t[images]:.2f}x"
                               for o, t in zip(found["ours"], found["torch"]))
            print(f"  {net}, {images} images: ours {mine * 1e3:.1f} ms, torch {version} "
                  f"(threads {used}, ours {threads}) {theirs * 1e3:.1f} ms a step; ours over "
                  f"theirs {mine / theirs:.2f}x (goal <= {TORCH_GOALS[net]}x; rounds: "
                  f"{spread})", flush=True)


# --- 3b. What the threads and the allocator buy ------------------------------------

# The ways of running a step compared by ``levers``; the last is imagelab's own.
LEVERS = ("one thread (set_threads(1)), the BLAS on its own threads",
          "two threads, the BLAS left at its own threads",
          "two threads, the BLAS held at one thread")


@contextlib.contextmanager
def lever(name, cores):
    """Run the layers one of the ``LEVERS`` ways inside this context."""
    held = parallel._blas_one_thread
    parallel.set_threads(1 if name == LEVERS[0] else cores)
    if name == LEVERS[1]:
        # The private hook that holds the BLAS, replaced for the measurement only.
        parallel._blas_one_thread = contextlib.nullcontext
    try:
        yield
    finally:
        parallel._blas_one_thread = held
        parallel.set_threads(cores)


def lever_worker(batch, micro_batch, repeats):
    """Print, as json, the median step seconds of conv4 and of the recipe (one pass)
    under each of the ``LEVERS``."""
    rng = np.random.default_rng(1)
    steps = {"conv4": training_step(conv4(CLASSES), batch, rng)[0],
             "recipe": recipe_step(micro_batch, micro_batch, len(LEVERS) * (repeats + 1),
                                   rng)[0]}
    cores, result = parallel.threads(), {}
    for name in LEVERS:
        with lever(name, cores):
            result[name] = {net: median_seconds(step, repeats) for net, step in steps.items()}
    print(json.dumps(result))


def levers(batches, repeats):
    """Print the ``LEVERS`` table, with glibc keeping freed memory and with its default,
    each in a process of its own in which ``OPENBLAS_THREAD_TIMEOUT`` is unset, as in a
    program that imports imagelab."""
    print(f"\nWhat the threads and the allocator buy: ms a step (median of {repeats}), in "
          f"processes as a program importing imagelab runs (OPENBLAS_THREAD_TIMEOUT unset):",
          flush=True)
    found = {}
    for allocator, flags in (("kept", []), ("default", ["--plain-allocator"])):
        done = subprocess.run([sys.executable, __file__, "--worker", "levers",
                               "--batch-size", str(batches["conv4"]), "--micro-batch",
                               str(batches["airbench"]), "--repeats", str(repeats), *flags],
                              check=True, capture_output=True, text=True)
        found[allocator] = json.loads(done.stdout.strip().splitlines()[-1])
    print(f"  {'freed memory kept (keep_freed_memory) / glibc default':<58} "
          f"{'conv4, ' + str(batches['conv4']):>15} {'recipe, ' + str(batches['airbench']):>15}",
          flush=True)
    for name in LEVERS:
        cells = [f"{found['kept'][name][net] * 1e3:.0f} / {found['default'][name][net] * 1e3:.0f}"
                 for net in ("conv4", "recipe")]
        print(f"  {name:<58} {cells[0]:>15} {cells[1]:>15}", flush=True)


# --- 4. Peak memory of a training run ----------------------------------------------

def peak_rss_mb():
    """This process's maximum resident set size so far, in MB: Linux's VmHWM where there
    is /proc/self/status, which starts afresh at exec, unlike ru_maxrss (kept across
    exec, it counted the pages of the forked benchmark process: 1.3 GB before any
    training); else ru_maxrss."""
    with contextlib.suppress(OSError):
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024                    # kB
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2 ** 20 if sys.platform == "darwin" else peak / 1024   # bytes vs kB


def random_dataset(n_train, n_test):
    """uint8 rows and labels of random training and test images of CIFAR-10's shape."""
    rng = np.random.default_rng(2)
    size = int(np.prod(SHAPE))
    return (rng.integers(0, 256, size=(n_train, size), dtype=np.uint8),
            rng.integers(0, CLASSES, size=n_train),
            rng.integers(0, 256, size=(n_test, size), dtype=np.uint8),
            rng.integers(0, CLASSES, size=n_test))


def memory_worker(batch, n_images, n_train, n_test):
    """Train conv4 as imagelab.cli.train_cnn does, on a bounded subset; print the peak RSS."""
    rows_train, labels_train, rows_test, labels_test = random_dataset(n_train, n_test)
    data_mb = peak_rss_mb()
    n_val = min(N_VAL, n_train // 50)
    train_rows = rows_train[n_val:].copy()           # the trainer's copy of its training rows
    pipeline = ImagePipeline(SHAPE, np.full(3, 120, np.float32), np.full(3, 60, np.float32),
                             pad=4, flip=True)
    network = build(conv4(CLASSES), SHAPE, seed=0)
    start = time.perf_counter()
    train(network, train_rows[:n_images], labels_train[n_val:n_val + n_images],
          rows_train[:n_val], labels_train[:n_val], num_epoch=1, batch_size=batch,
          optimizer=SGD(network.parameters(), 0.9), learning_rate=LEARNING_RATE,
          weight_decay=WEIGHT_DECAY, pipeline=pipeline, seed=0)
    training_mb = peak_rss_mb()
    evaluate(network, rows_test, labels_test, pipeline=pipeline)   # the trainer's batches
    print(f"  {n_train:,} + {n_test:,} uint8 images held, one epoch on {n_images:,} "
          f"(batch {batch}, pad 4, flip), {n_val:,} validation and {n_test:,} test images "
          f"evaluated as the trainer does, {time.perf_counter() - start:.0f} s:", flush=True)
    print(f"  peak RSS {peak_rss_mb():,.0f} MB (goal <= {MEMORY_GOALS_MB['conv4']:,} MB); it "
          f"was {data_mb:,.0f} MB with the data in memory, {training_mb:,.0f} MB after "
          f"training and validation", flush=True)


def recipe_memory_worker(micro_batch, n_images, n_train, n_test):
    """Train the recipe as imagelab.cli.train_recipe does, on a bounded subset; print the peak."""
    rows_train, labels_train, rows_test, labels_test = random_dataset(n_train, n_test)
    data_mb = peak_rss_mb()
    recipe = dataclasses.replace(RECIPE, micro_batch=micro_batch,
                                 epochs=n_images / len(rows_train))
    start = time.perf_counter()
    network, _, pipeline, _ = train_recipe(rows_train, labels_train, SHAPE, CLASSES, recipe,
                                           test=(rows_test, labels_test))
    training_mb = peak_rss_mb()
    tta_accuracies(network, pipeline, rows_test.reshape(-1, *SHAPE), labels_test)
    steps = n_images // recipe.batch_size
    print(f"  {n_train:,} + {n_test:,} uint8 images held, {steps} steps of "
          f"{recipe.batch_size:,} images (micro-batches of {micro_batch}), the test images "
          f"evaluated after the epoch and at every test-time augmentation level, "
          f"{time.perf_counter() - start:.0f} s:", flush=True)
    print(f"  peak RSS {peak_rss_mb():,.0f} MB (goal <= {MEMORY_GOALS_MB['airbench']:,} MB); "
          f"it was {data_mb:,.0f} MB with the data in memory, {training_mb:,.0f} MB after "
          f"training", flush=True)


def training_memory(batches, n_images, n_train, n_test):
    """Run each memory worker in a fresh process; print the trainers' own records too."""
    for net, worker in (("conv4", "memory"), ("airbench", "recipe-memory")):
        print(f"\nPeak memory of a training run of {net} (a process of its own):", flush=True)
        subprocess.run([sys.executable, __file__, "--worker", worker, "--batch-size",
                        str(batches[net]), "--memory-images", str(n_images[net]),
                        "--dataset-size", str(n_train), str(n_test)], check=True)
        record = RECORDS[net]
        try:
            with open(record) as f:
                found = json.load(f)
            print(f"  the real run ({os.path.relpath(record, ROOT)}, loading included): "
                  f"peak_memory_mb {found.get('peak_memory_mb', '?')}, "
                  f"{found.get('training_minutes', '?')} min of training", flush=True)
        except (OSError, ValueError):
            print(f"  the trainer records the real run's peak in "
                  f"{os.path.relpath(record, ROOT)} (key peak_memory_mb); no such file yet",
                  flush=True)


# --- Command line -------------------------------------------------------------------

def parse_arguments():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=None,
                        help="conv4's images per batch (default: 128, --quick: 8)")
    parser.add_argument("--micro-batch", type=int, default=None,
                        help="the recipe's images per pass (default: 256, --quick: 8)")
    parser.add_argument("--repeats", type=int, default=None,
                        help="timings kept the median of (default: 7, --quick: 2)")
    parser.add_argument("--kernels", nargs="+", default=None,
                        help="OPENBLAS_CORETYPE values to make the per-layer tables under, "
                             "each in its own process, 'unset' for the machine's own "
                             "(default: only this process's kernel)")
    parser.add_argument("--memory-images", type=int, default=None,
                        help="images of conv4's memory run (default: 2,000, --quick: 64); "
                             "the recipe's runs two steps")
    parser.add_argument("--parts", nargs="+", choices=PARTS, default=list(PARTS),
                        help="the tables to make (default: all, in this order)")
    parser.add_argument("--quick", action="store_true",
                        help="smoke test: tiny batch, few repeats, small memory run")
    parser.add_argument("--rounds", type=int, default=None,
                        help="rounds of our steps and PyTorch's, alternated, each in a "
                             "fresh process (default: 3, --quick: 1)")
    parser.add_argument("--worker", choices=["layers", "ours", "torch", "memory",
                                             "recipe-memory", "levers"],
                        help=argparse.SUPPRESS)
    parser.add_argument("--plain-allocator", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--net", choices=sorted(NETS), help=argparse.SUPPRESS)
    parser.add_argument("--threads", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--dataset-size", type=int, nargs=2, default=None,
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    quick = args.quick
    args.batch_size = args.batch_size or (8 if quick else 128)
    args.micro_batch = args.micro_batch or (8 if quick else RECIPE.micro_batch)
    args.repeats = args.repeats or (2 if quick else 7)
    args.rounds = args.rounds or (1 if quick else 3)
    args.memory_images = args.memory_images or (64 if quick else 2_000)
    args.dataset_size = args.dataset_size or ((2_000, 500) if quick else (N_TRAIN, N_TEST))
    return args


def main():
    args = parse_arguments()
    batches = {"conv4": args.batch_size, "airbench": args.micro_batch}
    repeats = args.repeats
    kept_memory = False if args.plain_allocator else keep_freed_memory()
    if args.worker == "levers":
        return lever_worker(args.batch_size, args.micro_batch, repeats)
    if args.worker == "layers":
        for net in NETS:
            layer_table(net, batches[net], repeats)
        return None
    if args.worker == "ours":
        return ours_worker(args.net, args.batch_size, args.micro_batch, repeats)
    if args.worker == "torch":
        return torch_worker(args.net, args.batch_size, args.micro_batch, repeats, args.threads)
    if args.worker == "memory":
        return memory_worker(args.batch_size, args.memory_images, *args.dataset_size)
    if args.worker == "recipe-memory":
        return recipe_memory_worker(args.batch_size, args.memory_images, *args.dataset_size)
    header(kept_memory)
    if "layers" in args.parts and args.kernels:
        layer_tables(batches, repeats, args.kernels)
    elif "layers" in args.parts:
        for net in NETS:
            layer_table(net, batches[net], repeats)
    if "steps" in args.parts:
        training_steps(args.batch_size, args.micro_batch, repeats)
    if "torch" in args.parts:
        compare_with_torch(batches, repeats, args.rounds)
    if "levers" in args.parts:
        levers(batches, repeats)
    if "memory" in args.parts:
        training_memory(batches, {"conv4": args.memory_images,
                                  "airbench": 2 * RECIPE.batch_size}, *args.dataset_size)


if __name__ == "__main__":
    main()
