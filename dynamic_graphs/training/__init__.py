"""Training with the paper's recipe, atomic per-epoch checkpoints, resume, a cache, and the trained zoo.

The CIFAR recipe is the one of the official code of Lu et al. 2022 (arXiv 2111.12485): SGD,
momentum 0.9, MultiStepLR, random crop and flip; Fashion-MNIST's default is a one-cycle recipe,
its first 4-epoch step recipe ``recipe="step"`` (see the "Training recipes" section of
``docs/method.md``). Training runs in its own random streams
(:func:`~dynamic_graphs.utils.isolated_rng`): it is seeded by ``seed`` and leaves the caller's
global random state as it found it, whether a model is trained or loaded from the cache.

One job per module: :mod:`.recipes` (defaults, named recipes, merging and checking options),
:mod:`.loop` (:func:`train`, :func:`evaluate`, augmentation, subsets, DDP sharding),
:mod:`.checkpoints` (cache paths, reading and loading checkpoints), :mod:`.weights` (the
shipped-weights manifest and ``pretrained``, exported as ``dynamic_graphs.pretrained``),
:mod:`.zoo` (the zoo table) and :mod:`.launch` (one training run, under torchrun or not: what
``dynamic-graphs train`` runs).
"""
from .callbacks import CurveRecorder, curve_scalars
from .checkpoints import checkpoint_path, epoch_checkpoint, finished, load_checkpoint, read_checkpoint
from .launch import check_run, init_distributed, train_run
from .loop import augment, class_subset, evaluate, iter_batches, subset_indices, train
from .recipes import (FALLBACK_DEFAULTS, FASHION_MNIST_ONECYCLE, FASHION_MNIST_STEP, FASHION_MNIST_STEP_BASE,
                      IMPLICIT_DEFAULTS, OPTIMIZERS, PRECISIONS, RECIPES, SCHEDULES, SUBSETS, TRAIN_DEFAULTS,
                      TRANSFORMER, check_classes, check_model_options, check_subset_sizes, explicit_recipe, merge_recipe, model_hparams,
                      model_recipe, recipe_name, train_defaults, with_recipe)
from .weights import MANIFEST_NAME, WEIGHTS_DIR, is_trained, read_manifest, ship_weights, shipped_entry
from .zoo import MISSING, ROW_IDENTITY, ZOO_COLUMNS, ship_table, updated_table, write_zoo_table, zoo_row, zoo_table

__all__ = [
    "FALLBACK_DEFAULTS",
    "FASHION_MNIST_ONECYCLE",
    "FASHION_MNIST_STEP",
    "FASHION_MNIST_STEP_BASE",
    "IMPLICIT_DEFAULTS",
    "MANIFEST_NAME",
    "MISSING",
    "OPTIMIZERS",
    "PRECISIONS",
    "RECIPES",
    "ROW_IDENTITY",
    "SCHEDULES",
    "SUBSETS",
    "TRAIN_DEFAULTS",
    "TRANSFORMER",
    "WEIGHTS_DIR",
    "ZOO_COLUMNS",
    "CurveRecorder",
    "augment",
    "check_classes",
    "check_model_options",
    "check_run",
    "check_subset_sizes",
    "checkpoint_path",
    "class_subset",
    "curve_scalars",
    "epoch_checkpoint",
    "evaluate",
    "explicit_recipe",
    "finished",
    "init_distributed",
    "is_trained",
    "iter_batches",
    "load_checkpoint",
    "merge_recipe",
    "model_hparams",
    "model_recipe",
    "read_checkpoint",
    "read_manifest",
    "recipe_name",
    "ship_table",
    "ship_weights",
    "shipped_entry",
    "subset_indices",
    "train",
    "train_defaults",
    "train_run",
    "updated_table",
    "with_recipe",
    "write_zoo_table",
    "zoo_row",
    "zoo_table",
]


def __getattr__(name: str):
    # the Lightning callback imports lightning, an optional extra: only when it is asked for
    if name == "ModularityCallback":
        try:
            from .lightning import ModularityCallback
        except ImportError as err:
            raise ImportError("ModularityCallback needs PyTorch Lightning: pip install 'dynamic-graphs[lightning]' "
                              f"({err}).") from err
        return ModularityCallback
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
