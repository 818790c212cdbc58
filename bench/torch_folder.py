#!/usr/bin/env python3
"""PyTorch side of `npm run bench:data -- --folder`: the ImageNet training input pipeline as a
PyTorch user writes it, on the same folder of JPEGs, timed as one pass over it.

python3 bench/torch_folder.py --folder DIR [--batch 64] [--workers 2] [--size 224] [--epochs 1]

torchvision.datasets.ImageFolder (PIL's loader, convert('RGB')) with torchvision's v1 transforms
RandomResizedCrop(size) (bilinear, antialiased), RandomHorizontalFlip, ToTensor, Normalize
(ImageNet's mean and std), and a DataLoader with `--workers` worker processes, shuffled, batches
collated into float32 [B, 3, size, size]. Each epoch is timed from creating its iterator (worker
start-up included) to its last batch. Prints one JSON object a line: {"epoch", "images",
"seconds", "cpu_seconds"} (CPU of the process and its worker processes during the epoch). Needs
torch and torchvision.
"""
import argparse
import json
import resource
import time

import torch
import torchvision
from torchvision import datasets, transforms

MEAN = [0.485, 0.456, 0.406]
STD = [0.229, 0.224, 0.225]


def cpu_seconds():
    """CPU time of this process and of its children that have ended (the DataLoader's workers)."""
    return sum(getattr(resource.getrusage(who), f) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN) for f in ("ru_utime", "ru_stime"))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--folder", required=True)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--epochs", type=int, default=1)
    args = parser.parse_args()
    transform = transforms.Compose(
        [
            transforms.RandomResizedCrop(args.size),
            transforms.RandomHorizontalFlip(),
            transforms.ToTensor(),
            transforms.Normalize(MEAN, STD),
        ]
    )
    dataset = datasets.ImageFolder(args.folder, transform=transform)
    loader = torch.utils.data.DataLoader(dataset, batch_size=args.batch, shuffle=True, num_workers=args.workers)
    for epoch in range(args.epochs):
        cpu = cpu_seconds()
        start = time.perf_counter()
        images = 0
        for batch, _labels in loader:
            images += batch.shape[0]
        seconds = time.perf_counter() - start
        # (the worker processes have been joined when the iterator ended: their CPU is counted)
        cpu = cpu_seconds() - cpu
        print(json.dumps({"epoch": epoch, "images": images, "seconds": seconds, "cpu_seconds": cpu, "torch": torch.__version__, "torchvision": torchvision.__version__}), flush=True)


if __name__ == "__main__":
    main()
