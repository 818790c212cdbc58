#!/usr/bin/env python3
"""PyTorch eager reference for `resnet-native bench`: the same workload, printed as one JSON line.

python3 bench/torch_bench.py --mode train|infer --batch 32 --steps 5 --warmup 2 --threads 2
    [--device cuda] [--amp bfloat16 | --half bfloat16] [--channels-last] [--cuda-graph]
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


def side_stream_warmup(fn, times=3):
    """Warm-up iterations before a capture run on a side stream, as torch.cuda.graph requires."""
    s = torch.cuda.Stream()
    s.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(s):
        for _ in range(times):
            fn()
    torch.cuda.current_stream().wait_stream(s)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--mode", choices=["train", "infer"], required=True)
    p.add_argument("--batch", type=int, required=True)
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--device", default="cpu")
    p.add_argument("--amp", choices=["bfloat16", "float16"], default=None)
    p.add_argument("--channels-last", action="store_true")
    p.add_argument("--cuda-graph", action="store_true")
    p.add_argument("--half", choices=["bfloat16", "float16"], default=None)
    a = p.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    device = torch.device(a.device)
    if a.cuda_graph and device.type != "cuda":
        p.error("--cuda-graph needs a CUDA device")
    torch.backends.cudnn.benchmark = True
    fmt = torch.channels_last if a.channels_last else torch.contiguous_format
    model = torchvision.models.resnet50(num_classes=10).to(device, memory_format=fmt)
    x = torch.randn(a.batch, 3, 32, 32, device=device).contiguous(memory_format=fmt)
    if a.half:
        # half-precision model with float32 BatchNorm
        half = getattr(torch, a.half)
        model.to(half)
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.float()
        x = x.to(half)
    y = torch.randint(0, 10, (a.batch,), device=device)
    amp_dtype = getattr(torch, a.amp) if a.amp else None

    def forward(inp):
        if amp_dtype is None:
            return model(inp)
        # the autocast cache must be off inside a CUDA graph capture
        with torch.autocast(device_type=device.type, dtype=amp_dtype, cache_enabled=not a.cuda_graph):
            return model(inp)

    if a.mode == "train":
        model.train()
        opt = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
        # float16 training steps scale the loss (not capturable: eager steps only), as ours do
        scaler = torch.amp.GradScaler(device.type) if a.amp == "float16" and not a.cuda_graph else None

        def eager_step(inp=x, labels=y):
            loss = F.cross_entropy(forward(inp).float(), labels)
            if scaler is None:
                loss.backward()
                opt.step()
            else:
                scaler.scale(loss).backward()
                scaler.step(opt)
                scaler.update()
            opt.zero_grad(set_to_none=True)
            return loss

        if a.cuda_graph:
            static_x, static_y = x.clone(), y.clone()
            side_stream_warmup(lambda: eager_step(static_x, static_y))
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph):
                static_loss = eager_step(static_x, static_y)

            def step():
                static_x.copy_(x)
                static_y.copy_(y)
                graph.replay()
                static_loss.item()
        else:
            def step():
                eager_step().item()
    else:
        model.eval()
        if a.cuda_graph:
            static_x = x.clone()
            with torch.inference_mode():
                side_stream_warmup(lambda: forward(static_x).argmax(1))
                graph = torch.cuda.CUDAGraph()
                with torch.cuda.graph(graph):
                    static_classes = forward(static_x).argmax(1)

            def step():
                static_x.copy_(x)
                graph.replay()
                static_classes.tolist()
        else:
            def step():
                with torch.inference_mode():
                    forward(x).argmax(1).tolist()

    times = []
    faults_before = 0
    for i in range(a.warmup + a.steps):
        if i == a.warmup:
            faults_before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        t0 = time.perf_counter()
        step()
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
        "channelsLast": a.channels_last,
        "cudaGraph": a.cuda_graph,
        "half": a.half,
        "medianStepSeconds": median,
        "imagesPerSecond": a.batch / median,
        "peakRssBytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "pageFaultsPerStep": (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults_before) / len(times),
        "peakCudaBytes": torch.cuda.max_memory_allocated(device) if device.type == "cuda" else None,
    }))


if __name__ == "__main__":
    main()
