# A standard client of the Open Inference Protocol (NVIDIA's tritonclient, from PyPI) against our
# server: health, metadata, and inference in binary (the client's default) and JSON modes.
# Usage: serve_tritonclient.py HOST:PORT INPUT.bin (float32, [2, 3, 32, 32]) IMAGE.png
import json
import sys

import numpy as np
import tritonclient.http as httpclient

url, x_file, image_file = sys.argv[1:4]
client = httpclient.InferenceServerClient(url=url)
result = {
    "live": client.is_server_live(),
    "ready": client.is_server_ready(),
    "modelReady": client.is_model_ready("cifar"),
    "inputNames": [i["name"] for i in client.get_model_metadata("cifar")["inputs"]],
}
x = np.fromfile(x_file, dtype=np.float32).reshape(2, 3, 32, 32)
for mode, binary in (("binary", True), ("json", False)):
    inp = httpclient.InferInput("input", list(x.shape), "FP32")
    inp.set_data_from_numpy(x, binary_data=binary)
    outputs = [
        httpclient.InferRequestedOutput("probabilities", binary_data=binary),
        httpclient.InferRequestedOutput("logits", binary_data=binary, class_count=1),
    ]
    response = client.infer("cifar", [inp], outputs=outputs, request_id="tc-1")
    top = response.as_numpy("logits").reshape(-1)
    result[mode] = {
        "probabilities": response.as_numpy("probabilities").reshape(-1).tolist(),
        "top": [t.decode() if isinstance(t, bytes) else str(t) for t in top],
        "id": response.get_response()["id"],
    }
image = np.array([open(image_file, "rb").read()], dtype=np.object_)
inp = httpclient.InferInput("images", [1], "BYTES")
inp.set_data_from_numpy(image, binary_data=True)
result["image"] = client.infer("cifar", [inp]).as_numpy("probabilities").reshape(-1).tolist()
print(json.dumps(result))
