"""Train a registry model with its dataset's recipe, in one process or with DistributedDataParallel.

Command line::

    python -m dynamic_graphs.train resnet20 fashion-mnist                 # the cache entry pretrained() reads
    python -m dynamic_graphs.train resnet56 fashion-mnist --seed 1 --out runs/resnet56-s1.pt
    torchrun --standalone --nproc_per_node=2 -m dynamic_graphs.train resnet20 synthetic --epochs 2

Under ``torchrun`` every process trains a DistributedDataParallel replica (gloo on CPU, NCCL on
CUDA, one GPU per process) on its share of each global batch, drawn from the same seeded order;
rank 0 alone evaluates and writes the checkpoint, atomically after every epoch, in the format of
single-process training, and an interrupted run resumes from it. Without ``--out`` the checkpoint
is the cache entry :func:`dynamic_graphs.pretrained` reads for the same options (locked while it
is produced, as there). At the end every process logs the digest of its weights and of the file.
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
import types
from contextlib import nullcontext
from pathlib import Path

from . import training


class _CallableModule(types.ModuleType):
    """Importing ``dynamic_graphs.train`` binds the package's ``train`` to this module, shadowing the
    function :func:`dynamic_graphs.training.train`; calling the module still calls the function."""

    def __call__(self, *args, **kwargs):
        return training.train(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
logger = logging.getLogger("dynamic_graphs.train")


def _init_distributed() -> tuple[int, int, str]:
    """Join torchrun's process group when launched by it: ``(rank, world size, device)``."""
    import torch

    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return 0, 1, "auto"
    cuda = torch.cuda.is_available()
    if cuda:
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    torch.distributed.init_process_group(backend="nccl" if cuda else "gloo")
    device = f"cuda:{torch.cuda.current_device()}" if cuda else "cpu"
    return torch.distributed.get_rank(), world, device


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", help="a registry name (dg.list_models())")
    parser.add_argument("dataset", help="a dataset name (fashion-mnist, cifar10, cifar100, synthetic)")
    parser.add_argument("--epochs", type=int, help="default: the dataset's recipe")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--recipe", help="a named recipe of the dataset (dg.RECIPES), e.g. step")
    parser.add_argument("--train-size", type=int, help="train on a seeded subset of this many images")
    parser.add_argument("--batch-size", type=int, help="the global batch (default: the recipe's)")
    parser.add_argument("--precision", choices=training.PRECISIONS,
                        help="bf16: the forward pass under bfloat16 autocast, fast only where the device has "
                             "bfloat16 kernels (not on an AVX2 CPU) (default: the recipe's, fp32)")
    parser.add_argument("--out", help="the checkpoint file (default: the cache entry of dg.pretrained)")
    parser.add_argument("--device", help="default: auto (one process) or each process's GPU (torchrun)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    import torch

    from ._settings import settings
    from .data import dataset_info, get_dataset
    from .models import get_model, probe_layers
    from .utils import cache_lock, isolated_rng, shown_path, state_digest

    try:
        probe_layers(args.model)  # names first: a typo is a usage error, before any process group
        info = dataset_info(args.dataset)
        overrides, hparams = training.model_hparams(args.model, args.dataset, args.recipe, {
            "epochs": args.epochs, "train_size": args.train_size, "batch_size": args.batch_size,
            "precision": args.precision})
    except (KeyError, TypeError, ValueError) as err:
        parser.error(str(err.args[0] if isinstance(err, KeyError) and err.args else err))
    rank, world, device = _init_distributed()
    device = args.device or device
    if rank != 0:
        settings.verbosity = 0  # one voice: rank 0 logs the epochs
    path = Path(args.out) if args.out else training.checkpoint_path(args.model, args.dataset, hparams, args.seed)
    try:
        with isolated_rng(args.seed):  # every rank starts from the same weights (DDP also broadcasts rank 0's)
            model = get_model(args.model, num_classes=info["num_classes"], in_channels=info["in_channels"],
                              mean=info["mean"], std=info["std"])
        # Rank 0 holds the cache entry's lock, as pretrained() does; the other ranks follow it.
        lock = cache_lock(path, what=f"{args.model} trained on {args.dataset}") if rank == 0 else nullcontext()
        with lock:
            if rank == 0:
                logger.info("Training %s on %s with %d process(es) -> %s", args.model, args.dataset, world,
                            shown_path(path))
            training.train(model, get_dataset(args.dataset, "train"), get_dataset(args.dataset, "test"),
                           checkpoint=path, device=device, seed=args.seed, dataset_name=args.dataset, **overrides)
        if world > 1:
            torch.distributed.barrier()
        saved = training.load_checkpoint(path, device="cpu")
        print(f"rank {rank}: weights {state_digest(model)}, checkpoint {state_digest(saved)}, "
              f"test accuracy {saved.checkpoint['test_acc']}", flush=True)
    finally:
        if world > 1:
            torch.distributed.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main())
