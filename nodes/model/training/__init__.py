"""Training pose_v1 bundles on camera-paired data (``cog-pose-estimation train``).

``train(data, out, TrainConfig(...))`` fits the network in torch with pose_v1's recipe (and the
optional ADR-079 losses and augmentations), then writes a bundle that the numpy and
onnxruntime backends load, ``<stem>.train_results.json`` and two PNG plots. torch and
matplotlib come with the ``train`` extra and are imported only when ``train`` runs: importing
this package, ``posecog.nodes.model`` or any pipeline never imports torch.
"""

from __future__ import annotations

from .config import TrainConfig
from .trainer import TrainResult, require_extras, train

__all__ = ["TrainConfig", "TrainResult", "require_extras", "train"]
