"""The modularity curve during training: a plain hook for any loop, and a PyTorch Lightning callback.

:class:`CurveRecorder` measures the curve of a model on a fixed probe set (the same seeded images
at every epoch, :class:`~dynamic_graphs.CurveSpec`) every ``every`` epochs, keeps the curves as one
stacked frame labelled by ``epoch`` (the stacked-curve contract of :func:`~dynamic_graphs.stack_curves`),
and writes each layer's Q (the mean over repeats) as a scalar ``modularity/<layer>`` to a
TensorBoard ``SummaryWriter`` when given one. Call it at the end of each epoch of a hand-written
loop, or pass it to the package's own :func:`~dynamic_graphs.training.train` (``callbacks=[...]``)::

    recorder = dg.training.CurveRecorder(dg.get_dataset("fashion-mnist", "test"), n=500, repeats=1)
    for epoch in range(1, epochs + 1):
        ...  # one epoch of training
        recorder(model, epoch)
    recorder.frame  # one curve per epoch: dg.pl.plot_curve(recorder.frame)

:class:`ModularityCallback` (``dg.training.ModularityCallback``, with the ``lightning`` extra)
does the same inside ``lightning.pytorch.Trainer.fit`` and logs the scalars to every logger of
the trainer. Measuring never changes training: the model's mode and device are restored, and the
random streams are forked, so that a run with the recorder trains the same weights as one without.
"""
from __future__ import annotations

import time
from typing import Any, Sequence

import pandas as pd
import torch
from torch import nn

from ..curve import CurveSpec, modularity_curve
from ..frames import stack_curves
from ..utils import check_positive_int

__all__ = ["CurveRecorder", "curve_scalars"]


def curve_scalars(curve: pd.DataFrame, *, prefix: str = "modularity") -> dict[str, float]:
    """Each layer's Q, the mean over the curve's repeats, as ``{"<prefix>/<layer>": Q}`` in depth order."""
    means = curve.groupby(["depth", "layer"], sort=True)["modularity"].mean()
    return {f"{prefix}/{layer}": float(value) for (_, layer), value in means.items()}


def _model_device(model: nn.Module) -> torch.device:
    parameter = next(model.parameters(), None)
    return parameter.device if parameter is not None else torch.device("cpu")


class CurveRecorder:
    """The modularity curve of a model on a fixed probe set, every ``every`` epochs of its training.

    Args:
        dataset: the probe set: a Dataset of (image, label), or a dataset name (its ``spec.split``).
            The spec's ``n``, ``repeats`` and ``seed`` fix the images, the same at every epoch.
        spec: the curve's settings (:class:`~dynamic_graphs.CurveSpec`); None: the paper's.
            ``device="auto"`` measures where the model is.
        layers: module names to probe; None: the model's probe layers.
        every: measure after epochs ``every``, ``2 * every``, ... (epochs count from 1).
        writer: a ``torch.utils.tensorboard.SummaryWriter`` (or anything with ``add_scalar``): each
            measured epoch adds ``modularity/<layer>`` at step ``epoch``.
        **options: fields of :class:`~dynamic_graphs.CurveSpec`, e.g. ``n=500, repeats=1``.

    Attributes:
        curves: ``{epoch: curve frame}`` of the epochs measured so far.
        seconds: ``{epoch: seconds}`` each measurement took.
    """

    def __init__(self, dataset: Any, spec: CurveSpec | None = None, *, layers: Sequence[str] | None = None,
                 every: int = 1, writer: Any = None, **options: Any) -> None:
        self.dataset = dataset
        self.spec = CurveSpec.build(spec, **options)
        self.layers = list(layers) if layers is not None else None
        self.every = check_positive_int("every", every)
        self.writer = writer
        self.curves: dict[int, pd.DataFrame] = {}
        self.seconds: dict[int, float] = {}

    def due(self, epoch: int) -> bool:
        """Whether epoch ``epoch`` (1-based) is one to measure."""
        return epoch % self.every == 0

    def __call__(self, model: nn.Module, epoch: int, **columns: Any) -> pd.DataFrame | None:
        """Measure ``model`` after epoch ``epoch`` if it is due; returns that curve, else None.

        Args:
            model: the network being trained (left in the mode and on the device it was in).
            epoch: the epoch just finished, counting from 1.
            **columns: constant columns added to this epoch's rows, e.g. ``test_acc=0.91``.
        """
        epoch = check_positive_int("epoch", epoch)
        if not self.due(epoch):
            return None
        started = time.perf_counter()
        spec = self.spec
        if str(spec.device) == "auto":
            spec = spec.replace(device=_model_device(model))
        devices = [spec.device] if torch.device(spec.device).type == "cuda" else []
        with torch.random.fork_rng(devices=devices):  # training's random streams go on as if never measured
            curve = modularity_curve(model, self.dataset, spec, layers=self.layers).assign(**columns)
        self.curves[epoch] = curve
        self.seconds[epoch] = time.perf_counter() - started
        if self.writer is not None:
            for tag, value in curve_scalars(curve).items():
                self.writer.add_scalar(tag, value, epoch)
        return curve

    @property
    def frame(self) -> pd.DataFrame:
        """Every measured curve, stacked with an ``epoch`` label (:func:`~dynamic_graphs.stack_curves`).

        Raises:
            ValueError: no epoch was measured yet.
        """
        if not self.curves:
            raise ValueError(f"No curve recorded yet: the recorder measures after every {self.every} epoch(s) "
                             "once it is called with the model and the epoch number.")
        return stack_curves(dict(sorted(self.curves.items())), name="epoch")
