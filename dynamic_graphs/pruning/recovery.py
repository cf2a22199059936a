"""Recovery: training a pruned model back to accuracy, cached like :func:`dynamic_graphs.pretrained`."""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import Dataset

from .._settings import settings
from ..data import dataset_info, labels_of
from ..data.registry import get_dataset
from ..models import get_model
from ..training import (FASHION_MNIST_STEP_BASE, explicit_recipe, finished, load_checkpoint, merge_recipe, train,
                        train_defaults)
from ..utils import cache_key, cache_lock, isolated_rng, resolve_device, shown_path, state_digest, tensor_digest

__all__ = [
    "CUSTOM_DATA",
    "FINETUNE_DEFAULTS",
    "TrainingData",
    "recover",
]

logger = logging.getLogger(__name__)

# Recovery by fine-tuning from the inherited weights: a short, low-lr step schedule (on Fashion-MNIST,
# from its step recipe whatever the training default: a one-cycle warm-up would undo the weights).
FINETUNE_DEFAULTS: dict[str, dict[str, Any]] = {
    "fashion-mnist": dict(FASHION_MNIST_STEP_BASE, epochs=2, lr=0.01, milestones=[1]),
    "cifar10": dict(train_defaults("cifar10"), epochs=40, lr=0.01, milestones=[20, 30]),
    "cifar100": dict(train_defaults("cifar100"), epochs=40, lr=0.01, milestones=[20, 30]),
}
CUSTOM_DATA = "custom"  # the cache folder (and recipe key) of recovery on a Dataset object rather than a name


class TrainingData:
    """A ``dataset`` argument resolved: a registry name (its train and test splits, loaded only when
    needed) or a Dataset object (training images; ``test_set`` or, without it, the same images).

    Attributes:
        name: the registry name, or None for a Dataset object.
        key: the recipe and cache-folder key (the name, or ``"custom"``).
    """

    def __init__(self, dataset: Any, test_set: Dataset | None = None) -> None:
        if isinstance(dataset, (str, os.PathLike)):
            self.name: str | None = str(dataset) if isinstance(dataset, str) else dataset
            self.key = str(dataset)
            self._train: Dataset | None = None
        elif isinstance(dataset, Dataset):
            self.name, self.key, self._train = None, CUSTOM_DATA, dataset
        else:
            raise TypeError(f"dataset must be a Dataset or a dataset name (see dg.get_dataset), "
                            f"got {type(dataset).__name__}.")
        if test_set is not None and not isinstance(test_set, Dataset):
            raise TypeError(f"test_set must be a Dataset, got {type(test_set).__name__}.")
        self._test = test_set

    @property
    def train(self) -> Dataset:
        if self._train is None:
            self._train = get_dataset(self.name, "train")
        return self._train

    @property
    def test(self) -> Dataset:
        if self._test is None:
            self._test = get_dataset(self.name, "test") if self.name is not None else self.train
        return self._test

    def info(self) -> dict[str, int]:
        """``num_classes``, ``in_channels`` and ``image_size`` (from the registry, else from the images)."""
        if self.name is not None:
            info = dataset_info(self.name)
            return {key: info[key] for key in ("num_classes", "in_channels", "image_size")}
        image = self.train[0][0]
        classes = getattr(self.train, "classes", None)
        num_classes = len(classes) if classes else int(labels_of(self.train).max()) + 1
        return {"num_classes": num_classes, "in_channels": int(image.shape[0]), "image_size": int(image.shape[-2])}

    def digest(self) -> str | None:
        """For a Dataset object, a digest of its images and labels (None for a name)."""
        if self.name is not None:
            return None
        images = getattr(self.train, "images", None)
        if isinstance(images, torch.Tensor):
            return tensor_digest({"images": images, "labels": torch.as_tensor(labels_of(self.train))})
        raise TypeError(f"recover caches by the training data; a {type(self.train).__name__} has no image tensor "
                        "to digest. Pass the dataset's name, or checkpoint= (a path for the run).")


def recover(pruned: nn.Module, dataset: Any = "fashion-mnist", *, test_set: Dataset | None = None,
            from_scratch: bool = False, seed: int = 0, device: str | torch.device = "auto",
            checkpoint: str | Path | None = None, **overrides) -> nn.Module:
    """Recover a pruned model's accuracy by training, cached like :func:`dynamic_graphs.pretrained`.

    Fine-tuning from the inherited weights is the default (:data:`FINETUNE_DEFAULTS`, e.g. on
    Fashion-MNIST 2 epochs, at lr 0.01 then 0.001); ``from_scratch=True`` re-initialises the pruned
    architecture and trains it with the dataset's full recipe, as the paper's code did (Lu et al.
    2022, Table 1). Every option of :data:`dynamic_graphs.training.TRAIN_DEFAULTS` can be overridden. The
    run is cached under ``settings.checkpoint_dir/<dataset>/pruned/``, keyed by the starting
    weights, the options and the seed, written atomically every epoch and resumed when
    interrupted. The caller's random state is left as it was.

    Args:
        pruned: a model from :func:`dynamic_graphs.pruning.prune` (or any registry model).
        dataset: a registry name (trains on its ``train`` split, scores on ``test``) or a Dataset
            of training images (cached under ``custom/``, keyed by a digest of its images too).
        test_set: with a Dataset, the images the accuracy is measured on (default: ``dataset``).
        from_scratch: re-initialise instead of fine-tuning.
        seed: training seed (and, from scratch, the initial weights').
        checkpoint: the run's file instead of the cache's.
        **overrides: training options (``epochs=``, ``lr=``, ``train_size=``...); None keeps the default.

    Returns:
        The trained model in eval mode, with ``checkpoint`` metadata (``test_acc``, ``history``...).
        ``pruned`` itself is not modified.

    Raises:
        ValueError: the model's classes or input channels do not match the data's.
        TypeError: ``dataset`` is neither a Dataset nor a name.
    """
    data = TrainingData(dataset, test_set)
    info = data.info()
    config = pruned.config
    if config.get("num_classes") != info["num_classes"] or config.get("in_channels") != info["in_channels"]:
        raise ValueError(f"The model has {config.get('num_classes')} classes and {config.get('in_channels')} input "
                         f"channels; {data.key} has {info['num_classes']} and {info['in_channels']}.")
    defaults = (train_defaults(data.key) if from_scratch
                else FINETUNE_DEFAULTS.get(data.key, FINETUNE_DEFAULTS["cifar10"]))
    hparams = merge_recipe(defaults, overrides)
    # From scratch, the new initial weights are part of what the seed fixes; fine-tuning overwrites them.
    with isolated_rng(seed if from_scratch else None):
        start = get_model(**config)
    if not from_scratch:
        start.load_state_dict(pruned.state_dict())
    if checkpoint is None:
        fields = {"config": config, "weights": state_digest(start), "hparams": hparams, "seed": seed,
                  "from_scratch": from_scratch}
        if data.name is None:
            fields["data"] = data.digest()
        checkpoint = (settings.checkpoint_dir / data.key.replace("/", "_") / "pruned"
                      / f"{config['name']}-{cache_key(fields)}.pt")
    checkpoint = Path(checkpoint)
    if not finished(checkpoint):
        with cache_lock(checkpoint, what=f"the recovery of pruned {config['name']}"):
            if not finished(checkpoint):  # another process may have finished it while this one waited
                how = "from scratch" if from_scratch else "fine-tuning"
                if settings.verbosity >= 1:
                    logger.info("Recovering %s %s (%s, %d epochs) -> %s", config["name"],
                                config.get("blocks", config.get("cfg")), how, hparams["epochs"],
                                shown_path(checkpoint))
                with isolated_rng(device=resolve_device(device)):  # train reseeds; the caller's streams stay
                    train(start, data.train, data.test, checkpoint=checkpoint, device=device, seed=seed,
                          dataset_name=data.name, **explicit_recipe(hparams))
    model = load_checkpoint(checkpoint, device=device)
    model.pruned_layers = getattr(pruned, "pruned_layers", [])
    return model
