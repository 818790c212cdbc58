#!/usr/bin/env python3
"""Writes the reference outputs the tests compare against, computed by PyTorch itself.

Usage: python3 scripts/gen_fixtures.py   (needs `pip install torch`; torchvision for later fixtures)

Output (small, committed): test/fixtures/*.json. Tests never need Python.
"""
import json
import os

import math

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "test", "fixtures")


def tensor_json(t):
    t = t.detach().cpu()
    dtype = str(t.dtype).replace("torch.", "")
    values = t.reshape(-1).tolist()
    return {"shape": list(t.shape), "dtype": dtype, "values": values}


def write(name, payload):
    os.makedirs(OUT, exist_ok=True)
    payload = {"generator": "scripts/gen_fixtures.py", "torch": torch.__version__, **payload}
    path = os.path.join(OUT, name)
    with open(path, "w") as f:
        json.dump(payload, f, separators=(",", ":"))
        f.write("\n")
    print(f"wrote {path} ({os.path.getsize(path)} bytes)")


class SmallNet(nn.Module):
    """conv -> batchnorm -> relu -> max-pool -> flatten -> linear, as in the native-core test."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 6, kernel_size=3, stride=1, padding=1, bias=True)
        self.bn = nn.BatchNorm2d(6)
        self.fc = nn.Linear(6 * 4 * 4, 5)

    def forward(self, x):
        x = F.relu(self.bn(self.conv(x)))
        x = F.max_pool2d(x, 2)
        return self.fc(torch.flatten(x, 1))


def save_pth(name, obj, **kwargs):
    os.makedirs(os.path.join(OUT, "pth"), exist_ok=True)
    path = os.path.join(OUT, "pth", name)
    torch.save(obj, path, **kwargs)
    print(f"wrote {path} ({os.path.getsize(path)} bytes)")


class RunsCommandWhenUnpickled:
    """A malicious payload: unpickling it would run a shell command."""

    def __reduce__(self):
        return (os.system, ("touch /tmp/resnet-native-pwned",))


def pth_files():
    """torch.save files for the .pth reader: dtypes, views, nesting, a malicious and a legacy file."""
    from collections import OrderedDict

    base = torch.arange(24, dtype=torch.float32).reshape(4, 6)
    tensors = OrderedDict(
        [
            ("f32", torch.linspace(-1, 1, 7)),
            ("f64", torch.tensor([1e-300, -2.5, 3.0], dtype=torch.float64)),
            ("f16", torch.tensor([0.5, -1.25, 65504.0], dtype=torch.float16)),
            ("bf16", torch.tensor([1.0, -3.0, 0.0078125], dtype=torch.bfloat16)),
            ("i64", torch.tensor([-(2**40), 0, 7])),
            ("i32", torch.tensor([-5, 6], dtype=torch.int32)),
            ("i16", torch.tensor([-300, 300], dtype=torch.int16)),
            ("i8", torch.tensor([-7, 8], dtype=torch.int8)),
            ("u8", torch.tensor([0, 255], dtype=torch.uint8)),
            ("bool", torch.tensor([True, False, True])),
            ("scalar", torch.tensor(3.5)),
            ("empty", torch.zeros(0, 3)),
            ("transposed", base.t()),
            ("row_view", base[2]),
            ("col_slice", base[:, 1:3]),
        ]
    )
    save_pth("dtypes.pth", tensors)
    expected = {k: {"shape": list(v.shape), "dtype": str(v.dtype).replace("torch.", ""), "values": v.double().reshape(-1).tolist() if v.dtype != torch.int64 else v.reshape(-1).tolist()} for k, v in tensors.items()}
    write("pth_dtypes.json", {"tensors": expected})
    save_pth("wrapped.pth", {"epoch": 3, "best_acc": 0.5, "state_dict": OrderedDict([("w", torch.ones(2, 2)), ("b", torch.zeros(2))])})
    save_pth("malicious.pth", OrderedDict([("w", torch.ones(2)), ("payload", RunsCommandWhenUnpickled())]))
    save_pth("legacy.pth", OrderedDict([("w", torch.ones(2))]), _use_new_zipfile_serialization=False)
    # 9,408 stored floats seen as [32000, 9408] through a zero stride: 1.2 GB if materialised
    save_pth("expanded.pth", OrderedDict([("conv1.weight", torch.arange(9408, dtype=torch.float32).expand(32000, 9408))]))


def seeded_small_net():
    """SmallNet with the weights of small_net.json (seed 1234; draws from the global generator)."""
    torch.manual_seed(1234)
    net = SmallNet()
    with torch.no_grad():
        # Non-trivial affine parameters so that their gradients are tested meaningfully.
        net.bn.weight.copy_(torch.rand(6) + 0.5)
        net.bn.bias.copy_(torch.randn(6) * 0.1)
    return net


def small_net_batch(i):
    """The i-th batch of the trajectory fixtures: synthetic_value('batch{i}') * 2, targets (i + k) % 5."""
    return synthetic_value(f"batch{i}", (4, 3, 8, 8)) * 2.0, torch.tensor([(i + k) % 5 for k in range(4)])


def small_net():
    net = seeded_small_net()
    state = {k: tensor_json(v) for k, v in net.state_dict().items()}
    save_pth("small_net.pth", net.state_dict())
    from safetensors.torch import save_file

    save_file(dict(net.state_dict()), os.path.join(OUT, "small_net.safetensors"), metadata={"source": "gen_fixtures.py"})
    x = torch.randn(4, 3, 8, 8, requires_grad=True)
    target = torch.tensor([0, 3, 1, 4])
    net.train()
    logits = net(x)
    loss = F.cross_entropy(logits, target)
    loss.backward()
    smoothed = F.cross_entropy(logits.detach(), target, label_smoothing=0.1)
    grads = {k: tensor_json(p.grad) for k, p in net.named_parameters()}
    after = {k: tensor_json(v) for k, v in net.state_dict().items() if "running" in k or "num_batches" in k}
    net.eval()
    with torch.no_grad():
        eval_logits = net(x)
    write(
        "small_net.json",
        {
            "description": "SmallNet conv3x3(3->6)+bias, BatchNorm2d(6), relu, max_pool 2, linear(96->5); train-mode forward/backward",
            "state": state,
            "input": tensor_json(x),
            "target": tensor_json(target),
            "trainLogits": tensor_json(logits),
            "loss": loss.item(),
            "lossLabelSmoothing0.1": smoothed.item(),
            "grads": grads,
            "inputGrad": tensor_json(x.grad),
            "buffersAfterTrainForward": after,
            "evalLogits": tensor_json(eval_logits),
        },
    )


def ops():
    torch.manual_seed(7)
    x = torch.randn(2, 3, 5, 6)
    logits = torch.randn(4, 7)
    idx = torch.tensor([[0, 2], [1, 1], [3, 0], [6, 5]])
    cases = {
        # F.pad order: (left, right, top, bottom), asymmetric as MindSpore's 'same' padding
        "pad_0_1_2_3": F.pad(x, (0, 1, 2, 3)),
        "max_pool2d_k3_s2_p1": F.max_pool2d(x, 3, stride=2, padding=1),
        "avg_pool2d_k2": F.avg_pool2d(x, 2),
        "adaptive_avg_pool2d_1": F.adaptive_avg_pool2d(x, 1),
        "softmax_dim1": F.softmax(logits, dim=1),
        "log_softmax_dim1": F.log_softmax(logits, dim=1),
        "gather_dim1": torch.gather(logits, 1, idx),
        "flip_dims_2_3": torch.flip(x, [2, 3]),
        "permute_0_2_3_1": x.permute(0, 2, 3, 1).contiguous(),
        "conv2d_s2_p_1_2_dil1_groups3": F.conv2d(x, torch.linspace(-1, 1, 3 * 1 * 3 * 3).reshape(3, 1, 3, 3), None, stride=2, padding=(1, 2), groups=3),
    }
    write(
        "ops.json",
        {
            "x": tensor_json(x),
            "logits": tensor_json(logits),
            "index": tensor_json(idx),
            "cases": {k: tensor_json(v) for k, v in cases.items()},
        },
    )


# ---- deterministic weights, computed bit-identically by test/synthetic-weights.ts ---------------


def fnv1a(text):
    h = 0x811C9DC5
    for b in text.encode():
        h = ((h ^ b) * 0x01000193) & 0xFFFFFFFF
    return h


def hash_uniform(key, n):
    """n values in [0, 1) from an integer hash of (index + fnv1a(key)), exactly as in TypeScript."""
    x = (np.arange(n, dtype=np.uint64) + fnv1a(key)) & 0xFFFFFFFF
    x ^= x >> 16
    x = (x * 0x7FEB352D) & 0xFFFFFFFF
    x ^= x >> 15
    x = (x * 0x846CA68B) & 0xFFFFFFFF
    x ^= x >> 16
    return x.astype(np.float64) / 4294967296.0


def synthetic_value(key, shape):
    """The value rule of test/synthetic-weights.ts: He-uniform convs, BN near identity."""
    n = int(np.prod(shape)) if len(shape) else 1
    u = hash_uniform(key, n)
    if key.endswith("num_batches_tracked"):
        return torch.zeros(shape, dtype=torch.int64)
    if key.endswith("running_var"):
        v = 1.0 + 0.5 * u
    elif key.endswith("running_mean"):
        v = 0.1 * (2 * u - 1)
    elif len(shape) == 4:
        v = (2 * u - 1) * math.sqrt(6.0 / (shape[1] * shape[2] * shape[3]))
    elif key.startswith("fc."):
        v = (2 * u - 1) / math.sqrt(2048.0 if key == "fc.bias" else shape[1])
    elif key.endswith("weight"):
        v = 1.0 + 0.2 * (2 * u - 1)
    else:
        v = 0.1 * (2 * u - 1)
    return torch.from_numpy(v.astype(np.float32)).reshape(shape)


def load_synthetic(model):
    with torch.no_grad():
        for key, t in model.state_dict().items():
            t.copy_(synthetic_value(key, tuple(t.shape)))


def same_pads(size_h, size_w, k, s):
    def one(size):
        total = max((math.ceil(size / s) - 1) * s + k - size, 0)
        return total // 2, total - total // 2

    left, right = one(size_w)
    top, bottom = one(size_h)
    return (left, right, top, bottom)


def use_same_padding(model):
    """MindSpore pad_mode='same' in torchvision's ResNet via explicit asymmetric F.pad."""

    def pad_before(module, k, s, value):
        module.padding = (0, 0) if isinstance(module, nn.Conv2d) else 0

        def hook(_m, inputs):
            x = inputs[0]
            return (F.pad(x, same_pads(x.shape[2], x.shape[3], k, s), value=value),)

        module.register_forward_pre_hook(hook)

    pad_before(model.conv1, 7, 2, 0.0)
    pad_before(model.maxpool, 3, 2, float("-inf"))
    for layer in (model.layer1, model.layer2, model.layer3, model.layer4):
        for block in layer:
            if block.conv2.stride[0] == 2:
                pad_before(block.conv2, 3, 2, 0.0)


def resnet_fixture(name, arch, padding="torch"):
    import torchvision

    torch.manual_seed(0)
    model = getattr(torchvision.models, arch)(num_classes=10)
    load_synthetic(model)
    if padding == "same":
        use_same_padding(model)
    # Batch 8: in training mode the last BatchNorm layers normalise over batch x 1 x 1 values, and
    # over only 2 values the train logits are ill-conditioned (two CPUs' PyTorch disagreed at 1e-1).
    input_shape = (8, 3, 32, 32)
    x = synthetic_value("input", input_shape) * 2.0
    target = torch.tensor([3, 7, 0, 9, 1, 5, 2, 8])
    last_block = {"resnet18": "layer4.1.bn2", "resnet50": "layer4.2.bn3"}[arch]
    model.eval()
    with torch.no_grad():
        eval_logits = model(x)
    model.train()
    train_logits = model(x)
    loss = F.cross_entropy(train_logits, target)
    loss.backward()
    params = dict(model.named_parameters())
    buffers = dict(model.named_buffers())

    def summary(t, head=64):
        flat = t.detach().reshape(-1)
        return {"shape": list(t.shape), "head": flat[:head].tolist(), "sum": flat.double().sum().item(), "absSum": flat.double().abs().sum().item()}

    grads = {k: summary(params[k].grad) for k in ["conv1.weight", "layer1.0.conv1.weight", f"{last_block}.weight", "fc.weight", "fc.bias"]}
    stats = {k: summary(buffers[k]) for k in ["bn1.running_mean", "bn1.running_var", f"{last_block}.running_mean", f"{last_block}.running_var", "bn1.num_batches_tracked"]}
    write(
        f"{name}.json",
        {
            "description": f"torchvision {arch}(num_classes=10) with synthetic weights (test/synthetic-weights.ts), padding {padding}",
            "arch": arch,
            "padding": padding,
            "stateDictShapes": [[k, list(v.shape), str(v.dtype).replace("torch.", "")] for k, v in model.state_dict().items()],
            "numParameters": sum(p.numel() for p in model.parameters()),
            "inputShape": list(input_shape),
            "inputScale": 2.0,
            "target": target.tolist(),
            "evalLogits": tensor_json(eval_logits),
            "trainLogits": tensor_json(train_logits),
            "loss": loss.item(),
            "grads": grads,
            "buffersAfterTrainForward": stats,
        },
    )


def resnet_half_fixture(name, dtype):
    """torchvision resnet18 as a half-precision model with float32 BatchNorm: convolutions and the
    head converted to dtype, BatchNorm never converted (model.to(dtype) followed by bn.float()
    would round the BatchNorm weights on the way): eval and train logits and the float32 loss."""
    import torchvision

    torch.manual_seed(0)
    model = torchvision.models.resnet18(num_classes=10)
    load_synthetic(model)
    half = getattr(torch, dtype)
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            m.to(half)
    x = (synthetic_value("input", (2, 3, 32, 32)) * 2.0).to(half)
    target = torch.tensor([3, 7])
    model.eval()
    with torch.no_grad():
        eval_logits = model(x)
    model.train()
    train_logits = model(x)
    loss = F.cross_entropy(train_logits.float(), target)
    write(
        f"{name}.json",
        {
            "description": f"torchvision resnet18(num_classes=10), synthetic weights, {dtype} model with float32 BatchNorm",
            "dtype": dtype,
            "stateDictDtypes": [[k, str(v.dtype).replace("torch.", "")] for k, v in model.state_dict().items()],
            "target": target.tolist(),
            "evalLogits": tensor_json(eval_logits.float()),
            "trainLogits": tensor_json(train_logits.float()),
            "loss": loss.item(),
        },
    )


def cosine_decay_lr(min_lr, max_lr, total_step, step_per_epoch, decay_epoch):
    """The tutorial's schedule (MindSpore nn.cosine_decay_lr), written out."""
    return [
        min_lr + 0.5 * (max_lr - min_lr) * (1 + math.cos(math.pi * min(i // step_per_epoch, decay_epoch) / decay_epoch))
        for i in range(total_step)
    ]


def sgd_trajectories():
    """N steps of torch.optim.SGD on SmallNet from the small_net.json weights and fixed batches."""

    def run(steps, lrs, **sgd):
        net = seeded_small_net()
        net.train()
        opt = torch.optim.SGD(net.parameters(), lr=lrs[0], **sgd)
        losses = []
        for i in range(steps):
            x, y = small_net_batch(i)
            for group in opt.param_groups:
                group["lr"] = lrs[i]
            opt.zero_grad()
            loss = F.cross_entropy(net(x), y)
            loss.backward()
            opt.step()
            losses.append(loss.item())
        return {
            "sgd": sgd,
            "lrs": lrs,
            "losses": losses,
            "final": {k: tensor_json(v) for k, v in net.state_dict().items()},
            "momentumBuffers": {k: tensor_json(opt.state[p]["momentum_buffer"]) for k, p in net.named_parameters()},
        }

    lrs = cosine_decay_lr(0.01, 0.1, 6, 2, 3)
    write(
        "sgd_trajectory.json",
        {
            "description": "torch.optim.SGD on SmallNet (small_net.json weights), batches synthetic_value('batch{i}') * 2, targets (i + k) % 5",
            "tutorial": run(6, lrs, momentum=0.9),
            "nesterovWeightDecay": run(4, [0.05] * 4, momentum=0.9, nesterov=True, weight_decay=1e-3),
            "dampening": run(3, [0.05] * 3, momentum=0.8, dampening=0.3),
        },
    )


def adamw_trajectory():
    """100 steps of torch.optim.AdamW (foreach) on SmallNet, which has BatchNorm, from the
    small_net.json weights and fixed batches; the learning rate changes every 10 steps; and the
    same with Adam's L2 form (torch.optim.Adam, weight decay added to the gradient)."""

    def run(cls, steps, lrs, **options):
        net = seeded_small_net()
        net.train()
        opt = cls(net.parameters(), lr=lrs[0], foreach=True, **options)
        losses = []
        for i in range(steps):
            x, y = small_net_batch(i % 8)
            for group in opt.param_groups:
                group["lr"] = lrs[i]
            opt.zero_grad()
            loss = F.cross_entropy(net(x), y)
            loss.backward()
            opt.step()
            losses.append(loss.item())
        params = dict(net.named_parameters())
        return {
            "options": options,
            "lrs": lrs,
            "losses": losses,
            "final": {k: tensor_json(v) for k, v in net.state_dict().items()},
            "expAvg": {k: tensor_json(opt.state[p]["exp_avg"]) for k, p in params.items()},
            "expAvgSq": {k: tensor_json(opt.state[p]["exp_avg_sq"]) for k, p in params.items()},
            "step": float(opt.state[params["fc.bias"]]["step"]),
        }

    lrs = [0.01 * 0.8 ** (i // 10) for i in range(100)]
    write(
        "adamw_trajectory.json",
        {
            "description": f"torch.optim.AdamW / Adam (torch {torch.__version__}, foreach) on SmallNet (small_net.json weights), batches small_net_batch(i % 8)",
            "adamw": run(torch.optim.AdamW, 100, lrs, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01),
            "adamwBetas": run(torch.optim.AdamW, 30, lrs[:30], betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1),
            "adam": run(torch.optim.Adam, 30, lrs[:30], betas=(0.9, 0.999), eps=1e-8, weight_decay=0.001),
        },
    )


def grad_scaler_trajectory():
    """torch.amp.GradScaler over torch.optim.SGD on SmallNet: clean steps, an inf gradient and a NaN
    gradient injected after backward (both sides inject the same), growth every 2 clean steps."""
    net = seeded_small_net()
    net.train()
    opt = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9, weight_decay=1e-3)
    options = {"init_scale": 2.0**10, "growth_factor": 2.0, "backoff_factor": 0.25, "growth_interval": 2}
    scaler = torch.amp.GradScaler("cpu", **options)
    inject = {2: ("fc.bias", float("inf")), 5: ("conv.weight", float("nan"))}
    params = dict(net.named_parameters())
    steps = []
    for i in range(8):
        x, y = small_net_batch(i)
        opt.zero_grad()
        loss = F.cross_entropy(net(x), y)
        scaler.scale(loss).backward()
        if i in inject:
            name, value = inject[i]
            params[name].grad.view(-1)[0] = value
        before = scaler.get_scale()
        scaler.unscale_(opt)
        unscaled_fc_bias = params["fc.bias"].grad.clone()
        scaler.step(opt)
        scaler.update()
        steps.append({
            "loss": loss.item(),
            "scaleUsed": before,
            "scaleAfter": scaler.get_scale(),
            "applied": scaler.get_scale() >= before,
            # (null where an inf was injected into it: JSON has no inf)
            "unscaledFcBiasGrad": tensor_json(unscaled_fc_bias) if torch.isfinite(unscaled_fc_bias).all() else None,
        })
    write(
        "grad_scaler_trajectory.json",
        {
            "description": "GradScaler('cpu') over SGD(lr 0.05, momentum 0.9, weight_decay 1e-3) on SmallNet (small_net.json weights); "
            "batches synthetic_value('batch{i}') * 2, targets (i + k) % 5; grads[name].view(-1)[0] set to inf / NaN at the given steps",
            "options": {"initScale": options["init_scale"], "growthFactor": options["growth_factor"],
                        "backoffFactor": options["backoff_factor"], "growthInterval": options["growth_interval"]},
            "inject": {str(k): {"param": v[0], "value": str(v[1])} for k, v in inject.items()},
            "steps": steps,
            "state": {"scale": scaler.state_dict()["scale"], "growthTracker": scaler.state_dict()["_growth_tracker"]},
            "final": {k: tensor_json(v) for k, v in net.state_dict().items()},
            "momentumBuffers": {k: tensor_json(opt.state[p]["momentum_buffer"]) for k, p in net.named_parameters()},
        },
    )


def no_decay_split(model, weight_decay, off):
    """The groups of torchvision's classification reference (utils.set_weight_decay) with
    --norm-weight-decay 0 ('norm' in off) and / or --bias-weight-decay 0 ('bias' in off), derived
    from its rules: modules visited depth first, each one's own trainable parameters in order; a
    parameter whose own name is 'bias' goes to the bias group (the reference's custom keys come
    first), else a parameter of a _BatchNorm / LayerNorm / GroupNorm / _InstanceNorm /
    LocalResponseNorm module to the norm group, else to the others; groups in the order others,
    norm, bias, empty ones dropped. Returns [(names, weight_decay)]."""
    norm_types = (nn.modules.batchnorm._BatchNorm, nn.LayerNorm, nn.GroupNorm, nn.modules.instancenorm._InstanceNorm, nn.LocalResponseNorm)
    split = {"other": [], "norm": [], "bias": []}
    for prefix, module in model.named_modules():
        for own, p in module.named_parameters(recurse=False):
            if not p.requires_grad:
                continue
            name = f"{prefix}.{own}" if prefix else own
            if "bias" in off and own == "bias":
                split["bias"].append(name)
            elif "norm" in off and isinstance(module, norm_types):
                split["norm"].append(name)
            else:
                split["other"].append(name)
    decays = {"other": weight_decay, "norm": 0.0, "bias": 0.0}
    return [(names, decays[key]) for key, names in split.items() if names]


def decay_groups():
    """The no-weight-decay groups of torchvision's resnet18 / resnet50 and of SmallNet, for each
    choice of --norm-weight-decay 0 / --bias-weight-decay 0."""
    import torchvision

    choices = [[], ["norm"], ["bias"], ["norm", "bias"]]
    models = {"resnet18": torchvision.models.resnet18(num_classes=10), "resnet50": torchvision.models.resnet50(num_classes=10), "smallNet": SmallNet()}
    write(
        "decay_groups.json",
        {
            "description": f"torchvision {torchvision.__version__} models' parameter groups as references/classification/utils.py set_weight_decay "
            "makes them (weight decay 1e-4), for each noWeightDecayOn choice",
            "weightDecay": 1e-4,
            "models": {
                name: [{"noWeightDecayOn": off, "groups": [{"params": names, "weightDecay": wd} for names, wd in no_decay_split(model, 1e-4, off)]} for off in choices]
                for name, model in models.items()
            },
        },
    )


def param_group_fixture_groups(net, base_lr, weight_decay):
    """SmallNet in three groups: conv.weight (the defaults), the BatchNorm parameters and conv.bias
    without weight decay, and the head with three times the base lr and twice the weight decay."""
    p = dict(net.named_parameters())
    return [
        {"params": [p["conv.weight"]]},
        {"params": [p["conv.bias"], p["bn.weight"], p["bn.bias"]], "weight_decay": 0.0},
        {"params": [p["fc.weight"], p["fc.bias"]], "lr": 3 * base_lr, "weight_decay": 2 * weight_decay},
    ]


def param_groups_trajectory():
    """100 steps of SGD / AdamW / Adam (foreach) over three parameter groups with their own lr and
    weight decay, the lr changing every 10 steps: each group's lr is the schedule's value times its
    initial lr over the base lr (as a PyTorch scheduler scales each group)."""

    def run(cls, lrs, **options):
        net = seeded_small_net()
        net.train()
        groups = param_group_fixture_groups(net, lrs[0], options["weight_decay"])
        opt = cls(groups, lr=lrs[0], foreach=True, **options)
        ratios = [1.0 if g["lr"] == lrs[0] else g["lr"] / lrs[0] for g in opt.param_groups]
        losses = []
        for i in range(len(lrs)):
            x, y = small_net_batch(i % 8)
            for group, ratio in zip(opt.param_groups, ratios):
                group["lr"] = lrs[i] * ratio
            opt.zero_grad()
            loss = F.cross_entropy(net(x), y)
            loss.backward()
            opt.step()
            losses.append(loss.item())
        names = {id(p): k for k, p in net.named_parameters()}
        state = {k: {name: tensor_json(v) for name, v in ((names[id(p)], s[k]) for p, s in opt.state.items())} for k in ("momentum_buffer", "exp_avg", "exp_avg_sq") if k in next(iter(opt.state.values()))}
        return {
            "options": options,
            "lrs": lrs,
            "groups": [{"params": [names[id(p)] for p in g["params"]], "lr": g["lr"], "weightDecay": g["weight_decay"]} for g in opt.param_groups],
            "losses": losses,
            "final": {k: tensor_json(v) for k, v in net.state_dict().items()},
            "state": state,
        }

    write(
        "param_groups_trajectory.json",
        {
            "description": f"torch {torch.__version__} optimizers (foreach) over SmallNet in three param groups "
            "(conv.weight | conv.bias, bn.* without weight decay | fc.* with 3x lr, 2x weight decay), small_net_batch(i % 8); "
            "groups[].lr is the last step's",
            "sgd": run(torch.optim.SGD, [0.05 * 0.8 ** (i // 10) for i in range(100)], momentum=0.9, weight_decay=5e-3),
            "adamw": run(torch.optim.AdamW, [0.01 * 0.8 ** (i // 10) for i in range(100)], betas=(0.9, 0.999), eps=1e-8, weight_decay=0.05),
            "adam": run(torch.optim.Adam, [0.01 * 0.8 ** (i // 10) for i in range(30)], betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-3),
        },
    )


def finite_or_name(x):
    """JSON has no inf / NaN: such a number is written as its name."""
    return x if math.isfinite(x) else str(x)


def clip_grad_trajectory():
    """torch.nn.utils.clip_grad_norm_ (foreach) before each step of SGD / AdamW on SmallNet over
    distinct batches (not learnable, so the norms stay above max_norm on most steps); an inf-norm
    run; and clipping between GradScaler's unscale_ and step with an inf and a NaN gradient
    injected (those steps are skipped)."""

    def run(make_opt, steps, max_norm, norm_type=2.0):
        net = seeded_small_net()
        net.train()
        opt = make_opt(net.parameters())
        losses, norms = [], []
        for i in range(steps):
            x, y = small_net_batch(i)
            opt.zero_grad()
            loss = F.cross_entropy(net(x), y)
            loss.backward()
            norms.append(torch.nn.utils.clip_grad_norm_(net.parameters(), max_norm, norm_type=norm_type, foreach=True).item())
            opt.step()
            losses.append(loss.item())
        return {"maxNorm": max_norm, "normType": finite_or_name(norm_type), "losses": losses, "totalNorms": norms,
                "clippedSteps": sum(n > max_norm for n in norms), "final": {k: tensor_json(v) for k, v in net.state_dict().items()}}

    def scaled(steps, max_norm):
        net = seeded_small_net()
        net.train()
        opt = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9)
        scaler = torch.amp.GradScaler("cpu", init_scale=2.0**10, growth_factor=2.0, backoff_factor=0.5, growth_interval=3)
        params = dict(net.named_parameters())
        out = []
        for i in range(steps):
            x, y = small_net_batch(i)
            opt.zero_grad()
            loss = F.cross_entropy(net(x), y)
            scaler.scale(loss).backward()
            if i in inject:
                name, value = inject[i]
                params[name].grad.view(-1)[0] = value
            before = scaler.get_scale()
            scaler.unscale_(opt)
            norm = torch.nn.utils.clip_grad_norm_(net.parameters(), max_norm, foreach=True).item()
            scaler.step(opt)
            scaler.update()
            out.append({"loss": loss.item(), "totalNorm": finite_or_name(norm), "scaleUsed": before, "scaleAfter": scaler.get_scale(), "applied": scaler.get_scale() >= before})
        return {"maxNorm": max_norm, "options": {"initScale": 2.0**10, "growthFactor": 2.0, "backoffFactor": 0.5, "growthInterval": 3},
                "inject": {str(k): {"param": v[0], "value": str(v[1])} for k, v in inject.items()},
                "steps": out, "final": {k: tensor_json(v) for k, v in net.state_dict().items()}}

    inject = {2: ("fc.bias", float("inf")), 5: ("conv.weight", float("nan"))}
    write(
        "clip_grad_trajectory.json",
        {
            "description": f"torch {torch.__version__} clip_grad_norm_(foreach=True) on SmallNet before each step, batches small_net_batch(i)",
            "sgd": run(lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9), 100, 1.0),
            "adamw": run(lambda p: torch.optim.AdamW(p, lr=0.01, foreach=True), 100, 1.0),
            "sgdInfNorm": run(lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9), 20, 0.5, norm_type=float("inf")),
            "scaler": scaled(10, 1.0),
        },
    )


def ema_trajectory():
    """The weights EMA of torchvision's classification reference (AveragedModel, use_buffers=True,
    avg = decay * avg + (1 - decay) * param) over 100 SGD steps on SmallNet, updated every 2 steps
    and reset to 0 updates after each of the first 3 (the reference's warm-up); and the reference's
    decay adjustment for a few settings."""
    decay, every, warmup_updates = 0.9, 2, 3
    net = seeded_small_net()
    net.train()
    ema = torch.optim.swa_utils.AveragedModel(net, avg_fn=lambda avg, p, n: decay * avg + (1 - decay) * p, use_buffers=True)
    opt = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9)
    losses, counts, middle = [], [], None
    for i in range(100):
        x, y = small_net_batch(i % 8)
        opt.zero_grad()
        loss = F.cross_entropy(net(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
        if i % every == 0:
            ema.update_parameters(net)
            if i // every < warmup_updates:
                ema.n_averaged.fill_(0)
        counts.append(int(ema.n_averaged))
        if i == 49:
            middle = {k: tensor_json(v) for k, v in ema.module.state_dict().items()}

    def adjusted(d, world_size, batch_size, ema_steps, epochs):
        adjust = world_size * batch_size * ema_steps / epochs
        return 1.0 - min(1.0, (1.0 - d) * adjust)

    settings = [(0.99998, 1, 32, 32, 600), (0.99998, 8, 128, 32, 600), (0.9999, 1, 256, 1, 90), (0.5, 4, 64, 32, 10)]
    write(
        "ema_trajectory.json",
        {
            "description": f"torch {torch.__version__} AveragedModel(use_buffers=True) with the reference's EMA avg_fn over SGD(lr 0.05, "
            "momentum 0.9) on SmallNet, batches small_net_batch(i % 8); update after step i when i % every == 0, n_averaged reset "
            "to 0 after each of the first warmupUpdates updates",
            "decay": decay,
            "every": every,
            "warmupUpdates": warmup_updates,
            "losses": losses,
            "nAveraged": counts,
            "middle": middle,
            "averaged": {k: tensor_json(v) for k, v in ema.module.state_dict().items()},
            "final": {k: tensor_json(v) for k, v in net.state_dict().items()},
            "referenceDecay": [{"decay": d, "worldSize": w, "batchSize": b, "emaSteps": s, "epochs": e, "adjusted": adjusted(d, w, b, s, e)} for d, w, b, s, e in settings],
        },
    )


def accumulation_batch(i):
    """The i-th batch of 32 of the accumulation fixture: small_net_batch(8 * (i % 5) + k), k = 0..7, concatenated."""
    parts = [small_net_batch(8 * (i % 5) + k) for k in range(8)]
    return torch.cat([x for x, _ in parts]), torch.cat([y for _, y in parts])


def grad_accumulation_trajectory():
    """100 optimizer steps on SmallNet with batches of 32 (accumulation_batch): accumulated over 4
    micro-batches of 8 (each loss divided by 4, one step after the 4 backward passes), and taken
    whole; SGD with momentum and AdamW. BatchNorm's batch statistics make the two differ."""

    def run(make_opt, micro):
        net = seeded_small_net()
        net.train()
        opt = make_opt(net.parameters())
        losses = []
        for i in range(100):
            x, y = accumulation_batch(i)
            opt.zero_grad()
            total = 0.0
            for m in range(micro):
                size = len(x) // micro
                loss = F.cross_entropy(net(x[m * size:(m + 1) * size]), y[m * size:(m + 1) * size]) / micro
                loss.backward()
                total += loss.item()
            opt.step()
            losses.append(total)
        return {"microBatches": micro, "losses": losses, "final": {k: tensor_json(v) for k, v in net.state_dict().items()}}

    sgd = lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9)  # noqa: E731
    adamw = lambda p: torch.optim.AdamW(p, lr=0.01, foreach=True)  # noqa: E731
    write(
        "grad_accumulation_trajectory.json",
        {
            "description": f"torch {torch.__version__}: 100 steps of batches of 32 (accumulation_batch(i)), as 4 micro-batches of 8 "
            "(loss / 4 each; losses[i] is their sum) or whole; SGD(lr 0.05, momentum 0.9), AdamW(lr 0.01)",
            "sgd": {"accumulated": run(sgd, 4), "whole": run(sgd, 1)},
            "adamw": {"accumulated": run(adamw, 4), "whole": run(adamw, 1)},
        },
    )


def mindspore_checkpoint_class():
    """The published MindSpore checkpoint schema, built with Python protobuf's own descriptors."""
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

    F = descriptor_pb2.FieldDescriptorProto
    fdp = descriptor_pb2.FileDescriptorProto(name="checkpoint.proto", syntax="proto2")
    ckpt = fdp.message_type.add(name="Checkpoint")
    value = ckpt.nested_type.add(name="Value")
    value.oneof_decl.add(name="value")
    value.field.add(name="tag", number=1, type=F.TYPE_STRING, label=F.LABEL_REQUIRED)
    value.field.add(name="tensor", number=2, type=F.TYPE_MESSAGE, type_name=".TensorProto", label=F.LABEL_OPTIONAL, oneof_index=0)
    value.field.add(name="maptensor", number=3, type=F.TYPE_MESSAGE, type_name=".MapTensorProto", label=F.LABEL_OPTIONAL, oneof_index=0)
    ckpt.field.add(name="value", number=1, type=F.TYPE_MESSAGE, type_name=".Checkpoint.Value", label=F.LABEL_REPEATED)
    tensor = fdp.message_type.add(name="TensorProto")
    tensor.field.add(name="dims", number=1, type=F.TYPE_INT64, label=F.LABEL_REPEATED)
    tensor.field.add(name="tensor_type", number=2, type=F.TYPE_STRING, label=F.LABEL_REQUIRED)
    tensor.field.add(name="tensor_content", number=3, type=F.TYPE_BYTES, label=F.LABEL_REQUIRED)
    fdp.message_type.add(name="MapTensorProto")
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fdp)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("Checkpoint"))


class TinyResNet(nn.Module):
    """The tutorial network's naming in miniature: stem conv1/bn1, one BasicBlock with a down-sample, fc."""

    def __init__(self):
        super().__init__()
        from torchvision.models.resnet import BasicBlock

        self.conv1 = nn.Conv2d(3, 8, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(8)
        self.layer1 = nn.Sequential(BasicBlock(8, 8, downsample=nn.Sequential(nn.Conv2d(8, 8, 1, bias=False), nn.BatchNorm2d(8))))
        self.fc = nn.Linear(8, 10)

    def forward(self, x):
        x = self.layer1(F.relu(self.bn1(self.conv1(x))))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


def mindspore_fixture():
    torch.manual_seed(0)
    net = TinyResNet()
    load_synthetic(net)
    with torch.no_grad():  # stored as Float16 in the checkpoint: the reference uses the rounded values
        net.conv1.weight.copy_(net.conv1.weight.half().float())
    names = {
        "bn1.": "norm.",
        "layer1.0.bn1.": "layer1.0.norm1.",
        "layer1.0.bn2.": "layer1.0.norm2.",
        "layer1.0.downsample.": "layer1.0.down_sample.",
    }
    suffixes = {"weight": "gamma", "bias": "beta", "running_mean": "moving_mean", "running_var": "moving_variance"}
    Checkpoint = mindspore_checkpoint_class()
    blob = b""
    for key, t in net.state_dict().items():
        if key.endswith("num_batches_tracked"):
            continue
        ms_name = key
        for old, new in names.items():
            if key.startswith(old):
                ms_name = new + key[len(old):]
                prefix, _, leaf = ms_name.rpartition(".")
                if not (key.startswith("layer1.0.downsample.0") or leaf not in suffixes):
                    ms_name = f"{prefix}.{suffixes[leaf]}"
        t = t.half() if key == "conv1.weight" else t
        kind = {torch.float16: "Float16", torch.float32: "Float32"}[t.dtype]
        message = Checkpoint()
        v = message.value.add()
        v.tag = ms_name
        v.tensor.dims.extend(list(t.shape))
        v.tensor.tensor_type = kind
        v.tensor.tensor_content = t.contiguous().numpy().tobytes()
        blob += message.SerializeToString()
    os.makedirs(os.path.join(OUT, "mindspore"), exist_ok=True)
    with open(os.path.join(OUT, "mindspore", "tiny_resnet.ckpt"), "wb") as f:
        f.write(blob)
    x = synthetic_value("input", (2, 3, 8, 8))
    net.eval()
    with torch.no_grad():
        logits = net(x)
    write("mindspore_tiny_resnet.json", {"evalLogits": tensor_json(logits), "checkpointBytes": len(blob)})


def _ddp_rank(rank, world, port, steps, out_dir):
    """One rank of ddp_trajectory (a spawned process)."""
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel as DDP

    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)
    net = seeded_small_net()
    if rank == 1:
        with torch.no_grad():  # a different start: DDP must copy rank 0's weights and buffers
            for p in net.parameters():
                p.mul_(0.5)
    net.train()
    model = DDP(net)
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    losses = []
    for i in range(steps):
        x, y = small_net_batch(i)
        share = slice(2 * rank, 2 * rank + 2)
        opt.zero_grad()
        loss = F.cross_entropy(model(x[share]), y[share])
        loss.backward()
        opt.step()
        losses.append(loss.item())
    with open(os.path.join(out_dir, f"rank{rank}.json"), "w") as f:
        json.dump({"losses": losses, "final": {k: tensor_json(v) for k, v in net.state_dict().items()}}, f)
    dist.destroy_process_group()


def ddp_trajectory():
    """PyTorch DDP (2 Gloo ranks) on SmallNet: each rank takes half of batch i (4 images)."""
    import socket
    import tempfile

    import torch.multiprocessing as mp

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    steps = 4
    with tempfile.TemporaryDirectory() as out_dir:
        mp.spawn(_ddp_rank, args=(2, port, steps, out_dir), nprocs=2, join=True)
        ranks = [json.load(open(os.path.join(out_dir, f"rank{r}.json"))) for r in range(2)]
    write(
        "ddp_trajectory.json",
        {
            "description": "torch DistributedDataParallel, 2 gloo ranks, SmallNet from small_net.json weights (rank 1 starts "
            "from them * 0.5), SGD lr 0.05 momentum 0.9, rank r takes images 2r, 2r+1 of small_net_batch(i)",
            "steps": steps,
            "ranks": ranks,
        },
    )


# The tree of image_folder.json: torchvision's ImageFolder rules on tricky names. Class folders that
# sort differently by code point than by UTF-16 unit ('\uff01' < '\U0001f600') or by locale
# (upper case first, '10' < '9'), NFC and NFD spellings of one name, a hidden class, nested and
# hidden subfolders whose walk order is a sort of whole paths ('sub' < 'sub a' < 'sub-b' < 'sub/..'),
# upper-case and other extensions, and symbolic links to folders (followed) and to files.
IMAGE_FOLDER_FILES = [
    "cat/IMG_001.JPG", "cat/b.Jpeg", "cat/c.PnG", "cat/d.tif", "cat/e.TIFF", "cat/f.webp", "cat/g.bmp",
    "cat/h.ppm", "cat/i.pgm", "cat/.hidden.jpg", "cat/notes.txt", "cat/x.gif", "cat/archive.jpg.zip",
    "cat/noext", "cat/jpg", "cat/x.jpgx", "cat/space name.jpg", "cat/sub/k.png", "cat/sub/deeper/l.jpg",
    "cat/sub a/m.jpg", "cat/sub-b/n.jpg", "cat/.hidden_dir/o.jpg", "cat/Sub/p.jpg",
    "Dog/a.jpg",
    "dog/a.png", "dog/\u00f1and\u00fa.JPG", "dog/\u65e5\u672c\u8a9e.png", "dog/\uff01.jpg", "dog/\U0001f600.jpg", "dog/Z.jpg",
    "Zebra/z.webp", "\u00e1pple/a.jpg", "e\u0301te/a.jpg", "\u00e9te/a.jpg", "\uff01/a.jpg", "\U0001f600/a.jpg",
    "10/a.jpg", "9/a.jpg", "a b/a.jpg", "a-b/a.jpg", "a_b/a.jpg", "a.b/a.jpg", "B/a.jpg", ".hidden_class/a.jpg",
    "deep/x/y/z/w.png", "README.txt", "stray.jpg",
]
# (link, target as written in the link)
IMAGE_FOLDER_LINKS = [("linked", "Dog"), ("cat/alias", "../Dog"), ("cat/link.jpg", "IMG_001.JPG")]


def build_image_folder_tree(root, files, links):
    for rel in files:
        os.makedirs(os.path.join(root, os.path.dirname(rel)), exist_ok=True)
        with open(os.path.join(root, rel), "wb") as f:
            f.write(b"x")  # ImageFolder reads no file when it lists them
    for link, target in links:
        os.symlink(target, os.path.join(root, link))


def image_folder_error(files):
    """torchvision's message for a tree it refuses."""
    import tempfile

    from torchvision.datasets import ImageFolder

    with tempfile.TemporaryDirectory() as root:
        build_image_folder_tree(root, files, [])
        try:
            ImageFolder(root)
        except FileNotFoundError as e:
            return str(e).replace(root, "<root>")
    raise AssertionError("ImageFolder accepted the tree")


def image_folder():
    """torchvision's ImageFolder on IMAGE_FOLDER_FILES / _LINKS: classes, class_to_idx, samples."""
    import tempfile

    import torchvision
    from torchvision.datasets import ImageFolder
    from torchvision.datasets.folder import IMG_EXTENSIONS

    with tempfile.TemporaryDirectory() as root:
        build_image_folder_tree(root, IMAGE_FOLDER_FILES, IMAGE_FOLDER_LINKS)
        ds = ImageFolder(root)
        samples = [[os.path.relpath(p, root), i] for p, i in ds.samples]
    write(
        "image_folder.json",
        {
            "description": "torchvision.datasets.ImageFolder(root) on the tree of files and symbolic links below "
            "(each file holds b'x': listing reads none); samples are relative to root",
            "torchvision": torchvision.__version__,
            "extensions": list(IMG_EXTENSIONS),
            "files": IMAGE_FOLDER_FILES,
            "links": [list(link) for link in IMAGE_FOLDER_LINKS],
            "classes": ds.classes,
            "class_to_idx": ds.class_to_idx,
            "samples": samples,
            "errors": {
                "empty_classes": image_folder_error(["b/x.txt", "a/1.jpg", "c/sub/y.gif"]),
                "no_classes": image_folder_error(["x.jpg"]),
            },
        },
    )


IMAGE_TRANSFORMS_DIR = os.path.join(OUT, "image_transforms")


def natural_image(h, w, rng):
    """RGB bytes with a photograph's 1/f spectrum (edges and texture at every scale)."""
    fy = np.fft.fftfreq(h)[:, None]
    fx = np.fft.rfftfreq(w)[None, :]
    f = np.sqrt(fx**2 + fy**2)
    f[0, 0] = 1
    noise = lambda: (rng.normal(size=(h, w // 2 + 1)) + 1j * rng.normal(size=(h, w // 2 + 1))) / f
    base = noise()
    a = np.stack([np.fft.irfft2(base + 0.4 * noise(), s=(h, w)) for _ in range(3)], -1)
    a = (a - a.mean()) / a.std() * 50 + 120
    return np.clip(a, 0, 255).astype(np.uint8)


def image_transform_files(rng):
    """The fixture's images, written with PIL: {name: (PIL image as opened)}."""
    from PIL import Image

    photo = Image.fromarray(natural_image(96, 128, rng))
    small = Image.fromarray(natural_image(30, 40, rng))
    alpha = Image.fromarray(np.linspace(0, 255, 30 * 40).reshape(30, 40).astype(np.uint8))
    rgba = small.copy()
    rgba.putalpha(alpha)
    palette = small.quantize(32)
    palette.info["transparency"] = 0
    grey16 = Image.fromarray((np.arange(30 * 40).reshape(30, 40) % 700).astype(np.uint16))
    saves = {
        "photo.png": (photo, {}),
        "photo.jpg": (photo, {"quality": 90}),
        "large.jpg": (Image.fromarray(natural_image(300, 400, rng)), {"quality": 70}),
        "grey.png": (small.convert("L"), {}),
        "grey.jpg": (small.convert("L"), {"quality": 90}),
        "rgba.png": (rgba, {}),
        "la.png": (rgba.convert("LA"), {}),
        "palette.png": (palette, {}),
        "cmyk.jpg": (small.convert("CMYK"), {"quality": 95}),
        "grey16.png": (grey16, {}),
        "rgb24.bmp": (small, {}),
        "palette8.bmp": (small.quantize(64), {}),
        "rgba32.bmp": (rgba, {}),
        "rgb.ppm": (small, {}),
        "grey.pgm": (small.convert("L"), {}),
        "lossy.webp": (small, {"quality": 90}),
        "rgb.tiff": (small, {}),
    }
    os.makedirs(IMAGE_TRANSFORMS_DIR, exist_ok=True)
    for name, (img, kwargs) in saves.items():
        img.save(os.path.join(IMAGE_TRANSFORMS_DIR, name), **kwargs)
    return list(saves)


def b64(array):
    import base64

    return base64.b64encode(np.ascontiguousarray(array).tobytes()).decode("ascii")


def image_transform_geometry():
    """RandomResizedCrop's fallback (certain for these shapes: no draw of 10 fits), the
    distribution of its boxes on a 500 x 375 image (torch's generator; ours draws others), and
    Resize's output sizes."""
    from PIL import Image
    from torchvision import transforms as T

    fallbacks = []
    for w, h in [(1000, 10), (10, 1000), (640, 20), (3, 400), (400, 3)]:
        top, left, bh, bw = T.RandomResizedCrop.get_params(Image.new("RGB", (w, h)), [0.08, 1.0], [3 / 4, 4 / 3])
        fallbacks.append({"width": w, "height": h, "box": [top, left, bh, bw]})
    torch.manual_seed(0)
    draws = [T.RandomResizedCrop.get_params(Image.new("RGB", (500, 375)), [0.08, 1.0], [3 / 4, 4 / 3]) for _ in range(20000)]
    shares = np.array([bh * bw / (500 * 375) for _, _, bh, bw in draws])
    log_ratios = np.log(np.array([bw / bh for _, _, bh, bw in draws]))
    box_stats = {
        "width": 500,
        "height": 375,
        "draws": len(draws),
        "share_mean": float(shares.mean()),
        "share_quantiles": [float(q) for q in np.quantile(shares, [0.1, 0.25, 0.5, 0.75, 0.9])],
        "log_ratio_mean": float(log_ratios.mean()),
        "log_ratio_std": float(log_ratios.std()),
    }
    resized = []
    for w, h, size in [(500, 375, 256), (375, 500, 256), (333, 257, 256), (257, 333, 146), (1000, 3, 5), (7, 999, 256), (256, 256, 256)]:
        out = T.Resize(size)(Image.new("RGB", (w, h)))
        resized.append({"width": w, "height": h, "size": size, "out": [out.width, out.height]})
    return fallbacks, box_stats, resized


def image_transforms():
    """torchvision's PIL path on real files: each file as ImageFolder's loader gives it (RGB), the
    pixels of resized_crop for fixed boxes (RandomResizedCrop's step once its box is drawn), and
    of Resize + CenterCrop (the evaluation transform), all uint8 HWC in base64."""
    import torchvision
    import torchvision.transforms.functional as TF
    from PIL import Image
    from torchvision import transforms as T
    from torchvision.datasets.folder import pil_loader

    names = image_transform_files(np.random.default_rng(25))
    resample = {
        "photo.png": [[10, 20, 80, 100], [5, 7, 20, 24], [0, 0, 96, 30], [30, 40, 32, 32], [3, 5, 77, 101], [0, 0, 96, 128]],
        "photo.jpg": [[10, 20, 80, 100], [5, 7, 20, 24], [3, 5, 77, 101], [0, 0, 96, 128]],
        "large.jpg": [[20, 30, 260, 340], [50, 50, 150, 150]],
    }
    evals = {"photo.png": [[36, 32], [73, 48], [110, 32]], "photo.jpg": [[36, 32], [73, 48]], "large.jpg": [[40, 32], [100, 64]]}
    images = []
    for name in names:
        img = pil_loader(os.path.join(IMAGE_TRANSFORMS_DIR, name))
        entry = {"file": name, "width": img.width, "height": img.height, "crops": [], "evals": []}
        if img.width * img.height <= 40 * 30:
            entry["rgb"] = b64(np.asarray(img))
        size = 48 if name == "large.jpg" else 32 if name.startswith("photo") else 24
        for top, left, h, w in resample.get(name, [[4, 6, 20, 28]]):
            out = TF.resized_crop(img, top, left, h, w, [size, size], T.InterpolationMode.BILINEAR, antialias=True)
            entry["crops"].append({"box": [top, left, h, w], "size": size, "hwc": b64(np.asarray(out))})
        for resize, crop in evals.get(name, []):
            out = T.Compose([T.Resize(resize), T.CenterCrop(crop)])(img)
            entry["evals"].append({"resizeSize": resize, "size": crop, "hwc": b64(np.asarray(out))})
        images.append(entry)
    fallbacks, box_stats, resized = image_transform_geometry()
    photo = pil_loader(os.path.join(IMAGE_TRANSFORMS_DIR, "photo.png"))
    mean, std = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]
    normalized = T.Compose([T.Resize(36), T.CenterCrop(32), T.ToTensor(), T.Normalize(mean, std)])(photo)
    write(
        "image_transforms.json",
        {
            "description": "torchvision's PIL path on the files in image_transforms/: pil_loader (convert('RGB')), "
            "resized_crop(box, [size, size], BILINEAR, antialias=True) for fixed boxes [top, left, height, width], "
            "Resize(resizeSize) + CenterCrop(size); pixels uint8 HWC, base64",
            "torchvision": torchvision.__version__,
            "pillow": Image.__version__,
            "images": images,
            "fallbacks": fallbacks,
            "box_stats": box_stats,
            "resized": resized,
            "normalized": {"file": "photo.png", "resizeSize": 36, "size": 32, "mean": mean, "std": std, "chw_float32": b64(normalized.numpy())},
        },
    )


GENERATORS = [
    "small_net",
    "ops",
    "pth_files",
    "mindspore_fixture",
    "sgd_trajectories",
    "grad_scaler_trajectory",
    "adamw_trajectory",
    "decay_groups",
    "param_groups_trajectory",
    "clip_grad_trajectory",
    "ema_trajectory",
    "grad_accumulation_trajectory",
    "resnet_fixtures",
    "ddp_trajectory",
    "image_folder",
    "image_transforms",
]


def resnet_fixtures():
    resnet_fixture("resnet18_synthetic", "resnet18")
    resnet_fixture("resnet50_synthetic", "resnet50")
    resnet_fixture("resnet50_same_synthetic", "resnet50", padding="same")
    resnet_half_fixture("resnet18_bf16_synthetic", "bfloat16")


if __name__ == "__main__":
    import sys

    # `python3 scripts/gen_fixtures.py ddp_trajectory ...` writes only those; no argument: all.
    unknown = [name for name in sys.argv[1:] if name not in GENERATORS]
    if unknown:
        sys.exit(f"unknown generator(s) {unknown}; choose from {GENERATORS}")
    for name in sys.argv[1:] or GENERATORS:
        globals()[name]()

