#!/usr/bin/env python3
"""PyTorch's side of `resnet-native bench --suite ddp`: training steps of a torchvision ResNet at
32x32 on fixed random data, either in one process or as DistributedDataParallel over `world`
Gloo ranks on loopback, each with `threads` intra-op threads and global batch / world images.
Prints one JSON line: {"seconds": [per timed step, slowest rank], "imagesPerSecond": ...}.

Usage: torch_ddp.py ARCH GLOBAL_BATCH STEPS WARMUP WORLD THREADS
"""
import json
import os
import socket
import sys
import tempfile
import time

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn.functional as F
import torchvision


def steps(rank, world, port, arch, batch, n, warmup, threads, out_dir):
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = getattr(torchvision.models, arch)(num_classes=10)
    if world > 1:
        dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)
        model = torch.nn.parallel.DistributedDataParallel(model)
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    share = batch // world
    x = torch.randn(share, 3, 32, 32)
    y = torch.randint(0, 10, (share,))
    times = []
    for i in range(warmup + n):
        if world > 1:
            dist.barrier()
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        if i >= warmup:
            times.append(time.perf_counter() - t0)
    with open(os.path.join(out_dir, f"rank{rank}.json"), "w") as f:
        json.dump(times, f)
    if world > 1:
        dist.destroy_process_group()


def main():
    arch, batch, n, warmup, world, threads = sys.argv[1], *map(int, sys.argv[2:7])
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with tempfile.TemporaryDirectory() as out_dir:
        args = (world, port, arch, batch, n, warmup, threads, out_dir)
        if world > 1:
            mp.spawn(steps, args=args, nprocs=world, join=True)
        else:
            steps(0, *args)
        ranks = [json.load(open(os.path.join(out_dir, f"rank{r}.json"))) for r in range(world)]
    # a step is done when the slowest rank is done
    seconds = [max(r[i] for r in ranks) for i in range(n)]
    total = sum(seconds)
    print(json.dumps({"seconds": seconds, "imagesPerSecond": batch * n / total}))


if __name__ == "__main__":
    main()
