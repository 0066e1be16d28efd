"""Checkpoints: a training's whole state after an epoch, to resume it where it stopped.

A checkpoint is one ``.npz`` file, written atomically (``imagelab.utils.files.write_atomic``):
the arrays (the network's weights and buffers, the optimizers' states, the arrays of
the training's progress such as the best epoch's weights) and, under the key "json",
a JSON text with everything else (the random generators' states, the optimizers'
step counts, the history, the settings the run was started with). Restoring it
before the next epoch gives the result of an uninterrupted run, bit for bit.
"""
import json
import os
import zipfile

import numpy as np

from imagelab.utils.checks import FlagError
from imagelab.utils.files import write_atomic


def checkpoint_path(model_dir, name):
    """``<model_dir>/<name>.checkpoint.npz``: the checkpoint beside the model it leads to."""
    return os.path.join(model_dir, name + ".checkpoint.npz")


def network_generators(network):
    """The random generators that ``network``'s layers keep (dropout's), in layer order."""
    return [layer.rng for layer in network.layers if hasattr(layer, "rng")]


def check_resumable(path):
    """Raise FlagError on --resume if there is no checkpoint ``path``."""
    if not os.path.exists(path):
        raise FlagError("--resume", f"no checkpoint {path} to resume from")


class Checkpoint:
    """The state of one training, saved after each epoch and restored by ``--resume``.

    Parameters
    ----------
    path : str
        The ``.npz`` file.
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
        write_atomic(self.path, lambda f: np.savez(f, json=np.array(text), **saved))

    def load(self):
        """Restore the network, optimizers and generators; return (progress, arrays).

        Raises
        ------
        FlagError
            On --resume: no checkpoint, a damaged one (named, left as it is), or one
            saved with other settings (the first flag that differs).
        """
        check_resumable(self.path)
        try:
            with np.load(self.path) as file:
                saved = {key: file[key] for key in file.files}
            state = json.loads(str(saved.pop("json")))
            self._check_settings(state["settings"])
            self._restore(state, saved)
        except (OSError, ValueError, KeyError, TypeError, IndexError, zipfile.BadZipFile,
                EOFError) as error:
            raise FlagError("--resume", f"the checkpoint {self.path} is damaged ({error}); "
                                        f"remove it to start over") from error
        arrays = {key[len("progress/"):]: value for key, value in saved.items()
                  if key.startswith("progress/")}
        return state["progress"], arrays

    def _check_settings(self, saved):
        """Raise FlagError on the first flag whose value differs from ``saved``'s."""
        for flag in sorted(set(saved) | set(self.settings)):
            if saved.get(flag) != self.settings.get(flag):
                raise FlagError(flag, f"the checkpoint {self.path} was saved with "
                                      f"{saved.get(flag)!r}, not {self.settings.get(flag)!r}: "
                                      f"resume with the same flags")

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
