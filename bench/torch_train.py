#!/usr/bin/env python3
"""PyTorch side of `resnet-native bench train`: the tutorial's training run written the way a
PyTorch user writes it, on the same CIFAR-10 binary files, timed the way the run times itself.

python3 bench/torch_train.py --data DIR --arch resnet50 --batch-size 64 --epochs 2 \
    --checkpoint-dir DIR [--eval-batch-size N] [--workers 2] [--threads N] [--device cpu]

A torch.utils.data Dataset over the .bin records, torchvision's transforms (v2, on uint8
tensors: RandomCrop 32 with 4-pixel zero padding, RandomHorizontalFlip, scale to [0, 1],
Normalize), a DataLoader with worker processes, torch.optim.SGD (momentum 0.9) with the
tutorial's cosine learning rate set each epoch, cross-entropy, `loss.item()` summed every step,
evaluation under torch.inference_mode(), torch.save of the best state dict and of the last
state dict with the optimizer. Prints one JSON object a line: {"type": "epoch", "seconds":
{"data", "step", "eval", "checkpoint", "total"}, ...}, then {"type": "done", ...}.
Needs torch and torchvision.
"""
import argparse
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
import torchvision
from torchvision.transforms import v2

MEAN = [0.4914, 0.4822, 0.4465]
STD = [0.2023, 0.1994, 0.2010]
RECORD = 3073


class CifarBinary(torch.utils.data.Dataset):
    def __init__(self, folder, files, transform):
        raw = np.concatenate([np.fromfile(os.path.join(folder, f), dtype=np.uint8) for f in files]).reshape(-1, RECORD)
        self.labels = torch.from_numpy(raw[:, 0].astype(np.int64))
        self.images = torch.from_numpy(raw[:, 1:].reshape(-1, 3, 32, 32).copy())
        self.transform = transform

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        return self.transform(self.images[i]), self.labels[i]


def cosine_lr(min_lr, max_lr, epoch, epochs):
    return min_lr + 0.5 * (max_lr - min_lr) * (1 + math.cos(math.pi * min(epoch, epochs) / epochs))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--data", required=True)
    p.add_argument("--arch", default="resnet50")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--eval-batch-size", type=int, default=0)
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--min-lr", type=float, default=1e-5)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--device", default="cpu")
    p.add_argument("--checkpoint-dir", required=True)
    a = p.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    device = torch.device(a.device)
    # cuDNN autotuning, as our train does by default (--no-cudnn-benchmark turns it off there)
    torch.backends.cudnn.benchmark = device.type == "cuda"
    folder = a.data
    nested = os.path.join(folder, "cifar-10-batches-bin")
    if os.path.isdir(nested):
        folder = nested
    to_float = [v2.ToDtype(torch.float32, scale=True), v2.Normalize(MEAN, STD)]
    train_set = CifarBinary(folder, [f"data_batch_{i}.bin" for i in range(1, 6)],
                            v2.Compose([v2.RandomCrop(32, padding=4), v2.RandomHorizontalFlip(), *to_float]))
    test_set = CifarBinary(folder, ["test_batch.bin"], v2.Compose(to_float))
    loader_options = dict(num_workers=a.workers, pin_memory=device.type == "cuda")
    train_loader = torch.utils.data.DataLoader(train_set, batch_size=a.batch_size, shuffle=True, **loader_options)
    test_loader = torch.utils.data.DataLoader(test_set, batch_size=a.eval_batch_size or a.batch_size, shuffle=True, **loader_options)
    model = getattr(torchvision.models, a.arch)(num_classes=10).to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=a.lr, momentum=0.9)
    os.makedirs(a.checkpoint_dir, exist_ok=True)
    best_file = os.path.join(a.checkpoint_dir, f"{a.arch}-best.pt")
    last_file = os.path.join(a.checkpoint_dir, f"{a.arch}-last.pt")
    best = -1.0
    steps = len(train_loader)
    for epoch in range(a.epochs):
        t0 = time.perf_counter()
        seconds = {"data": 0.0, "step": 0.0, "eval": 0.0, "checkpoint": 0.0}
        for group in optimizer.param_groups:
            group["lr"] = cosine_lr(a.min_lr, a.lr, epoch, a.epochs)
        model.train()
        loss_sum = 0.0
        batches = iter(train_loader)
        step = 0
        while True:
            t = time.perf_counter()
            try:
                images, labels = next(batches)
            except StopIteration:
                break
            seconds["data"] += time.perf_counter() - t
            t = time.perf_counter()
            images, labels = images.to(device, non_blocking=True), labels.to(device, non_blocking=True)
            loss = F.cross_entropy(model(images), labels)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            loss_sum += loss.item()
            step += 1
            if step == 1 or step % 100 == 0 or step == steps:
                print(f"Epoch: [{epoch + 1:3d}/{a.epochs:3d}], Steps: [{step:3d}/{steps:3d}], Train Loss: [{loss.item():.3f}]", file=sys.stderr)
            seconds["step"] += time.perf_counter() - t
        t = time.perf_counter()
        model.eval()
        correct = 0
        with torch.inference_mode():
            for images, labels in test_loader:
                correct += (model(images.to(device)).argmax(1).cpu() == labels).sum().item()
        accuracy = correct / len(test_set)
        seconds["eval"] = time.perf_counter() - t
        t = time.perf_counter()
        if accuracy > best:
            best = accuracy
            torch.save(model.state_dict(), best_file)
        torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "epoch": epoch + 1}, last_file)
        seconds["checkpoint"] = time.perf_counter() - t
        seconds["total"] = time.perf_counter() - t0
        print(json.dumps({"type": "epoch", "epoch": epoch + 1, "loss": loss_sum / max(step, 1), "accuracy": accuracy,
                          "seconds": seconds, "intraOpThreads": torch.get_num_threads()}), flush=True)
    print(json.dumps({"type": "done", "bestAccuracy": best, "torch": torch.__version__}), flush=True)


if __name__ == "__main__":
    main()
