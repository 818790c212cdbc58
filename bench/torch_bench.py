#!/usr/bin/env python3
"""PyTorch eager reference for `resnet-native bench`: the same workload, printed as one JSON line.

python3 bench/torch_bench.py --mode train|infer --batch 32 --steps 5 --warmup 2 --threads 2
Needs torch and torchvision (pip install torch torchvision).
"""
import argparse
import json
import resource
import statistics
import time

import torch
import torch.nn.functional as F
import torchvision


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--mode", choices=["train", "infer"], required=True)
    p.add_argument("--batch", type=int, required=True)
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--device", default="cpu")
    p.add_argument("--amp", choices=["bfloat16", "float16"], default=None)
    a = p.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    device = torch.device(a.device)
    torch.backends.cudnn.benchmark = True
    model = torchvision.models.resnet50(num_classes=10).to(device)
    x = torch.randn(a.batch, 3, 32, 32, device=device)
    y = torch.randint(0, 10, (a.batch,), device=device)
    amp_dtype = getattr(torch, a.amp) if a.amp else None

    def forward(inp):
        if amp_dtype is None:
            return model(inp)
        with torch.autocast(device_type=device.type, dtype=amp_dtype):
            return model(inp)

    times = []
    faults_before = 0
    if a.mode == "train":
        model.train()
        opt = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
        for i in range(a.warmup + a.steps):
            if i == a.warmup:
                faults_before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
            t0 = time.perf_counter()
            loss = F.cross_entropy(forward(x).float(), y)
            loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)
            loss.item()
            if i >= a.warmup:
                times.append(time.perf_counter() - t0)
    else:
        model.eval()
        with torch.inference_mode():
            for i in range(a.warmup + a.steps):
                if i == a.warmup:
                    faults_before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
                t0 = time.perf_counter()
                forward(x).argmax(1).tolist()
                if i >= a.warmup:
                    times.append(time.perf_counter() - t0)
    median = statistics.median(times)
    print(json.dumps({
        "impl": "pytorch",
        "version": torch.__version__,
        "mode": a.mode,
        "batch": a.batch,
        "threads": torch.get_num_threads(),
        "device": a.device,
        "amp": a.amp,
        "medianStepSeconds": median,
        "imagesPerSecond": a.batch / median,
        "peakRssBytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "pageFaultsPerStep": (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults_before) / len(times),
    }))


if __name__ == "__main__":
    main()
