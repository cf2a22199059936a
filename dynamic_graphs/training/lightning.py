"""The curve recorder as a PyTorch Lightning callback (the ``lightning`` extra).

Importing this module imports ``lightning``; ``dg.training.ModularityCallback`` does so only when
it is first used, with a message naming the extra if Lightning is not installed.
"""
from __future__ import annotations

from typing import Any, Sequence

from lightning.pytorch import Callback, LightningModule, Trainer
from torch import nn

from ..curve import CurveSpec
from ..features import check_layers
from ..models import probe_layers
from .callbacks import CurveRecorder, curve_scalars

__all__ = ["ModularityCallback"]


class ModularityCallback(Callback):
    """The modularity curve on a fixed probe set every ``every`` epochs of ``Trainer.fit``, logged per layer.

    At the end of each due training epoch (epochs count from 1, as in the package's own training),
    the global-zero process measures the network with a :class:`~dynamic_graphs.training.CurveRecorder`
    and logs each layer's Q as ``modularity/<layer>`` at step ``epoch`` to every logger of the
    trainer (TensorBoard's scalars with ``TensorBoardLogger``, the default when TensorBoard is
    installed). :attr:`frame` holds the curves, stacked with an ``epoch`` label.

    Args:
        dataset, spec, layers, every, **options: as for :class:`~dynamic_graphs.training.CurveRecorder`.
        attribute: the LightningModule's attribute that holds the network to probe (e.g.
            ``"model"``); None: the LightningModule itself when ``layers`` are given or it declares
            probe layers, else its one child module that declares them (a registry, timm or
            ``probe_layers()`` network), whose layer names the frame then uses.
    """

    def __init__(self, dataset: Any, spec: CurveSpec | None = None, *, layers: Sequence[str] | None = None,
                 every: int = 1, attribute: str | None = None, **options: Any) -> None:
        super().__init__()
        self.recorder = CurveRecorder(dataset, spec, layers=layers, every=every, **options)
        self.layers = self.recorder.layers  # as given: the recorder's are resolved at each fit's start
        self.attribute = attribute
        self.probed: nn.Module | None = None

    def network(self, pl_module: LightningModule) -> nn.Module:
        """The module the curve probes: ``attribute``'s, else the LightningModule when ``layers`` are
        given or it declares probe layers, else its one child module that declares them."""
        if self.attribute is not None:
            network = getattr(pl_module, self.attribute, None)
            if not isinstance(network, nn.Module):
                raise AttributeError(f"{type(pl_module).__name__} has no module attribute {self.attribute!r}; pass "
                                     "the name of the attribute that holds the network, or attribute=None.")
            return network
        if self.layers is not None or _declares_layers(pl_module):
            return pl_module
        children = [child for _, child in pl_module.named_children() if _declares_layers(child)]
        if len(children) != 1:
            raise ValueError(f"ModularityCallback cannot tell which network of {type(pl_module).__name__} to probe: "
                             f"{len(children) or 'none'} of its child modules declare probe layers. Pass "
                             "attribute='<the attribute that holds the network>', or layers=[...] (names from "
                             "pl_module.named_modules()).")
        return children[0]

    def on_fit_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        # a wrong layer name, or a network without declared layers, fails before the first epoch
        self.probed = self.network(pl_module)
        self.recorder.layers = check_layers(self.probed, self.layers or probe_layers(self.probed))

    def on_train_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        epoch = trainer.current_epoch + 1
        if not trainer.is_global_zero or not self.recorder.due(epoch):
            return
        curve = self.recorder(self.probed, epoch)
        for logger in trainer.loggers:
            logger.log_metrics(curve_scalars(curve), step=epoch)

    @property
    def frame(self):
        """The curves measured so far, one per epoch (:attr:`CurveRecorder.frame`)."""
        return self.recorder.frame



def _declares_layers(module: nn.Module) -> bool:
    try:
        probe_layers(module)
    except ValueError:
        return False
    return True
