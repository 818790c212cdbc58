"""Writes test/fixtures/tensorboard/pytorch/: a small TensorBoard event file written by PyTorch's own
torch.utils.tensorboard.SummaryWriter (scalars, a PNG image, text, hparams), and expected.json
saying what was written, so that the tests can check that this project's reader parses PyTorch's
records and that its writer produces records that parse the same way.

    /work/venv/bin/python scripts/gen_tensorboard_fixture.py   # needs torch and tensorboard
"""
import glob
import json
import os
import shutil

import numpy as np
from torch.utils.tensorboard import SummaryWriter

root = os.path.join(os.path.dirname(__file__), "..", "test", "fixtures", "tensorboard")
out = os.path.join(root, "pytorch")
shutil.rmtree(out, ignore_errors=True)
# a 4x3 RGB image with known pixels (HWC uint8)
image = (np.arange(4 * 3 * 3).reshape(4, 3, 3) * 7 % 256).astype(np.uint8)
expected = {
    "scalars": {"train/loss": [[1, 2.5], [2, 2.25], [3, 1.75]], "train/lr": [[1, 0.1], [2, 0.05], [3, 0.025]]},
    "text": {"notes": [[0, "| a | b |\n| --- | --- |\n| 1 | 2 |"]]},
    "image": {"tag": "samples", "step": 4, "height": 4, "width": 3, "pixels": image.flatten().tolist()},
    "hparams": {"hparams": {"lr": 0.1, "arch": "resnet18", "nesterov": True}, "metrics": {"eval/accuracy": 0.5}},
}
w = SummaryWriter(out)
for tag, points in expected["scalars"].items():
    for step, value in points:
        w.add_scalar(tag, value, step)
w.add_text("notes", expected["text"]["notes"][0][1], 0)
w.add_image("samples", image, 4, dataformats="HWC")
w.add_hparams(expected["hparams"]["hparams"], expected["hparams"]["metrics"], run_name=".")
w.close()
files = sorted(glob.glob(os.path.join(out, "events.out.tfevents.*")))
# one file, with a fixed name (the writer's own name holds the time, host and pid)
assert len(files) >= 1, files
for i, f in enumerate(files):
    os.rename(f, os.path.join(out, f"events.out.tfevents.0.pytorch.0.{i}"))
with open(os.path.join(out, "expected.json"), "w") as f:
    json.dump(expected, f, indent=1)
print("wrote", out, [os.path.getsize(os.path.join(out, n)) for n in sorted(os.listdir(out))])
