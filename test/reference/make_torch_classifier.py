"""A small CNN classifier with TorchXRayVision's interface (1 x 224 x 224 input in [-1024, 1024],
18 sigmoid outputs), exported by torch.onnx.export as a stand-in for a model a user exports
elsewhere; and its PyTorch outputs on given images.

usage: make_torch_classifier.py OUT.onnx IMAGES.safetensors EXPECTED.safetensors
IMAGES holds "images" [B, 1, 224, 224] in the generator's [-1, 1]; EXPECTED gets "probabilities"
[B, 18] computed by PyTorch on images * 1024 (the contract's range mapping).
"""
import sys

import numpy as np
import torch

import safetensors_np

out, images_file, expected_file = sys.argv[1:4]
torch.manual_seed(0)
model = torch.nn.Sequential(
    torch.nn.Conv2d(1, 8, 5, stride=4, padding=2), torch.nn.ReLU(),
    torch.nn.Conv2d(8, 16, 3, stride=2, padding=1), torch.nn.BatchNorm2d(16), torch.nn.ReLU(),
    torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(16, 18), torch.nn.Sigmoid(),
)
with torch.no_grad():
    model[0].weight.mul_(1 / 1024.0)  # inputs come in [-1024, 1024]
    model[3].running_mean.uniform_(-0.1, 0.1)
    model[3].running_var.uniform_(0.5, 1.5)
model.eval()
torch.onnx.export(model, torch.zeros(1, 1, 224, 224), out, input_names=["image"], output_names=["probabilities"],
                  dynamic_axes={"image": {0: "batch"}, "probabilities": {0: "batch"}}, opset_version=14)
tensors, _ = safetensors_np.read(images_file)
with torch.no_grad():
    p = model(torch.from_numpy(tensors["images"] * 1024.0)).numpy().astype(np.float32)
safetensors_np.write(expected_file, {"probabilities": p})
