"""Checkpoints: a training's whole state after an epoch, to resume it where it stopped.

A checkpoint is one ``.npz`` file, written atomically (``imagelab.utils.files.write_atomic``):
the arrays (the network's weights and buffers, the optimizers' states, the arrays of
the training's progress such as the best epoch's weights) and, under the key "json",
a JSON text with everything else (the random generators' states, the optimizers'
step counts, the history, the settings the run was started with). Restoring it
before the next epoch gives the result of an uninterrupted run, bit for bit.
"""
import contextlib
import json
import os
import zipfile

import numpy as np

from imagelab.utils.checks import FlagError
from imagelab.utils.files import save_here_or_elsewhere, write_atomic


def checkpoint_path(model_dir, name):
    """``<model_dir>/<name>.checkpoint.npz``: the checkpoint beside the model it leads to."""
    return os.path.join(model_dir, name + ".checkpoint.npz")


def network_generators(network):
    """The random generators that ``network``'s layers keep (dropout's), in layer order."""
    return [layer.rng for layer in network.layers if hasattr(layer, "rng")]


def check_checkpoint(path, settings, resume):
    """Refuse (FlagError), before any data is read, a run that would lose a checkpoint or
    could not resume from it.

    Without --resume, a checkpoint at ``path`` is an unfinished run's, which the new
    run would replace: refused, so that no finished epoch is lost. With --resume, the
    refusals of ``read_checkpoint``: no checkpoint, a damaged one, or one saved with
    other ``settings``. What only the network can tell (the arrays' shapes) is left to
    ``Checkpoint.load``.

    Parameters
    ----------
    path : str
    settings : dict
        Flag -> value, as ``Checkpoint`` takes them.
    resume : bool
        Whether --resume was given.
    """
    if resume:
        read_checkpoint(path, settings)
    elif os.path.exists(path):
        raise FlagError("--resume", f"not given, but the checkpoint {path} of an unfinished "
                                    f"run exists: pass --resume to continue it, or delete "
                                    f"the file to start over")


# What reading a damaged checkpoint raises: a missing or truncated zip member, bad JSON,
# a missing key, a value of the wrong type or shape.
DAMAGE = (OSError, ValueError, KeyError, TypeError, IndexError, zipfile.BadZipFile, EOFError)


@contextlib.contextmanager
def refused_if_damaged(path):
    """Turn an error of the block, which reads the checkpoint ``path``, into a FlagError
    on --resume that names the file (left as it is)."""
    try:
        yield
    except DAMAGE as error:
        raise FlagError("--resume", f"the checkpoint {path} is damaged ({error}); "
                                    f"remove it to start over") from error


def read_checkpoint(path, settings):
    """Read the checkpoint ``path`` whole (each array's checksum is checked as it is
    read) and check that it was saved with ``settings``.

    Returns
    -------
    state : dict
        The JSON part: "settings", "progress", "optimizer_counts", "generators".
    saved : dict of str -> np.ndarray
        The arrays.

    Raises
    ------
    FlagError
        On --resume: no checkpoint, a damaged one (named, left as it is); or on the
        first flag whose value differs from the checkpoint's.
    """
    if not os.path.exists(path):
        raise FlagError("--resume", f"no checkpoint {path} to resume from")
    with refused_if_damaged(path):
        with np.load(path) as file:
            saved = {key: file[key] for key in file.files}
        state = json.loads(str(saved.pop("json")))
        saved_settings = state["settings"]
        for flag in sorted(set(saved_settings) | set(settings)):
            if saved_settings.get(flag) != settings.get(flag):
                raise FlagError(flag, f"the checkpoint {path} was saved with "
                                      f"{saved_settings.get(flag)!r}, not "
                                      f"{settings.get(flag)!r}: resume with the same flags")
    return state, saved


class Checkpoint:
    """The state of one training, saved after each epoch and restored by ``--resume``.

    Parameters
    ----------
    path : str
        The ``.npz`` file, in the folder of --model-dir (``checkpoint_path``).
    settings : dict
        Flag (e.g. "--num-epoch") -> value (JSON): everything that changes the result;
        a resume with another value is refused.
    network : imagelab.nn.network.Network
    optimizers : list of imagelab.nn.optim.Optimizer
        Their per-parameter states (arrays, step counts) are saved and restored in place.
    generators : list of np.random.Generator
        Every generator the training draws from (batch order, augmentation, dropout).
    arrays : list of np.ndarray
        Any other array the training updates in place (a lookahead's average).
    """

    def __init__(self, path, settings, network, optimizers, generators, arrays=()):
        self.path, self.settings = path, dict(settings)
        self.network, self.optimizers, self.generators = network, optimizers, generators
        self.arrays = list(arrays)

    def save(self, progress, arrays):
        """Write the state, with the loop's ``progress`` (JSON) and its ``arrays``.

        Parameters
        ----------
        progress : dict
            JSON values (e.g. the epoch reached, the history).
        arrays : dict of str -> np.ndarray

        Raises
        ------
        FlagError
            On --model-dir, if the file cannot be written (its folder lost or made
            read-only during the training): the state is then saved in a new temporary
            folder, which the message names.
        """
        saved = {f"weights/{i}": w for i, w in enumerate(self.network.get_weights())}
        counts = []
        for i, optimizer in enumerate(self.optimizers):
            counts.append([])
            for j, state in enumerate(optimizer.states):
                counts[i].append({key: value for key, value in state.items()
                                  if not isinstance(value, np.ndarray)})
                saved.update({f"optimizer/{i}/{j}/{key}": value
                              for key, value in state.items() if isinstance(value, np.ndarray)})
        saved.update({f"arrays/{i}": value for i, value in enumerate(self.arrays)})
        saved.update({f"progress/{key}": value for key, value in arrays.items()})
        text = json.dumps({"settings": self.settings, "progress": progress,
                           "optimizer_counts": counts,
                           "generators": [g.bit_generator.state for g in self.generators]},
                          allow_nan=False)
        folder, name = os.path.split(self.path)

        def save_in(place):
            path = os.path.join(place, name)
            write_atomic(path, lambda f: np.savez(f, json=np.array(text), **saved))
            return path

        path, failure = save_here_or_elsewhere(save_in, folder)
        if failure is not None:
            # The training stops here rather than go on without checkpoints: the rest of
            # a run of tens of minutes would have nothing to resume from, and the folder
            # that failed is the one the model goes to. The state just saved elsewhere
            # loses no finished epoch.
            raise FlagError("--model-dir", f"cannot write the checkpoint {self.path} "
                                           f"({failure.strerror}): the training stopped; its "
                                           f"last epoch is saved in {path}: resume with "
                                           f"--model-dir {os.path.dirname(path)} --resume")

    def load(self):
        """Restore the network, optimizers and generators; return (progress, arrays).

        Raises
        ------
        FlagError
            On --resume: no checkpoint, a damaged one (named, left as it is), or one
            saved with other settings (the first flag that differs).
        """
        state, saved = read_checkpoint(self.path, self.settings)
        with refused_if_damaged(self.path):
            self._restore(state, saved)
            progress = state["progress"]
        arrays = {key[len("progress/"):]: value for key, value in saved.items()
                  if key.startswith("progress/")}
        return progress, arrays

    def _restore(self, state, saved):
        """Copy the saved arrays and counts into the network, optimizers and generators."""
        weights = self.network.get_weights()
        if len(weights) != sum(key.startswith("weights/") for key in saved):
            raise ValueError("the network's arrays do not match")
        self.network.set_weights([_fitted(saved[f"weights/{i}"], w)
                                  for i, w in enumerate(weights)])
        if len(self.arrays) != sum(key.startswith("arrays/") for key in saved):
            raise ValueError("the training's other arrays do not match")
        for i, value in enumerate(self.arrays):
            value[...] = _fitted(saved[f"arrays/{i}"], value)
        self._restore_optimizers(state["optimizer_counts"], saved)
        for generator, generator_state in zip(self.generators, state["generators"],
                                              strict=True):
            generator.bit_generator.state = generator_state

    def _restore_optimizers(self, counts, saved):
        """Copy each optimizer's saved state, per parameter: arrays in place, counts."""
        for i, (optimizer, counts_i) in enumerate(zip(self.optimizers, counts, strict=True)):
            for j, (state, counts_j) in enumerate(zip(optimizer.states, counts_i, strict=True)):
                for key, value in state.items():
                    if isinstance(value, np.ndarray):
                        value[...] = _fitted(saved[f"optimizer/{i}/{j}/{key}"], value)
                    else:
                        state[key] = counts_j[key]

    def remove(self):
        """Delete the checkpoint (the training finished and its model is saved)."""
        remove_checkpoint(self.path)


def remove_checkpoint(path):
    """Delete the checkpoint ``path`` if there is one."""
    if os.path.exists(path):
        os.unlink(path)


def _fitted(saved, target):
    """``saved``, after checking that it has ``target``'s shape and dtype (ValueError)."""
    if saved.shape != target.shape or saved.dtype != target.dtype:
        raise ValueError(f"an array of shape {saved.shape} ({saved.dtype}) where "
                         f"{target.shape} ({target.dtype}) was expected")
    return saved
