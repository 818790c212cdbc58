"""Reads a TensorBoard run folder with TensorBoard's own EventAccumulator and prints, as JSON, what
TensorBoard sees: scalars (tag -> [[step, value]]), images (tag -> [[step, width, height, decodable]]),
text (tag -> [[step, text]]) and the hparams plugin's data (tag -> decoded HParamsPluginData)."""
import json
import math
import sys

from google.protobuf import json_format
from tensorboard.backend.event_processing import event_accumulator
from tensorboard.plugins.hparams import plugin_data_pb2

run = sys.argv[1]
acc = event_accumulator.EventAccumulator(run, size_guidance={event_accumulator.SCALARS: 0, event_accumulator.IMAGES: 0, event_accumulator.TENSORS: 0})
acc.Reload()
tags = acc.Tags()
out = {"scalars": {}, "images": {}, "text": {}, "hparams": {}}
for tag in tags["scalars"]:
    # NaN (a class with no test image) as null: JSON has no NaN
    out["scalars"][tag] = [[e.step, None if math.isnan(e.value) else e.value] for e in acc.Scalars(tag)]
for tag in tags["images"]:
    rows = []
    for e in acc.Images(tag):
        png = e.encoded_image_string
        rows.append([e.step, e.width, e.height, png[:8] == b"\x89PNG\r\n\x1a\n"])
    out["images"][tag] = rows


def plugin_tags(name):
    try:
        return acc.PluginTagToContent(name).items()
    except KeyError:  # no summary of that plugin in this run
        return []


for tag, content in plugin_tags("text"):
    out["text"][tag] = [[e.step, e.tensor_proto.string_val[0].decode()] for e in acc.Tensors(tag)]
for tag, content in plugin_tags("hparams"):
    data = plugin_data_pb2.HParamsPluginData.FromString(content)
    out["hparams"][tag] = json_format.MessageToDict(data)
json.dump(out, sys.stdout)
