"""Judging generated images without a downloaded network, and probing latents.

A *judge* is a polyfuse classifier trained on real images (one image input, a class label or a
set of labels). It gives :func:`conditional_accuracy` (does each generated image show its
condition?) and the features of :class:`JudgeFeatures`, which replace Inception's in
torchmetrics' FID and KID (:func:`fid_kid`). :func:`nearest_training_distance` checks for
memorisation, and :func:`linear_probe_score` measures what a latent (``polyfuse embed``) knows of
a label.

Legend: N images, C channels, H/W height/width, D feature width.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from polyfuse.data.batch import Batch

if TYPE_CHECKING:
    from polyfuse.predictor import Predictor


class JudgeFeatures(nn.Module):
    """A trained image classifier as a feature extractor: ``(N, C, H, W)`` in [0, 1] -> ``(N, D)``.

    The images are resized to the judge's input size, normalised as its processor does, and
    encoded; the features are the judge's fused vector (what its head reads). ``num_features``
    tells torchmetrics the width.

    Args:
        judge: a trained classification predictor (multiclass or multilabel) whose only input is an
            image column.
        batch_size: images per forward pass.
    """

    mean: Tensor
    std: Tensor

    def __init__(self, judge: Predictor, batch_size: int = 256) -> None:
        super().__init__()
        fitted = judge.fitted
        images = [s for s in fitted.inputs if s.modality == "image"]
        if len(fitted.inputs) != 1 or not images:
            raise ValueError("a judge must be a classifier with exactly one input, an image column")
        self.model = fitted.model.eval()
        self.input = images[0].name
        spec = images[0].processor.output_spec()
        self.size = (int(spec["height"]), int(spec["width"]))
        self.channels = int(spec["channels"])
        processor: Any = images[0].processor
        self.register_buffer("mean", torch.tensor(processor.mean_).view(1, -1, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(processor.std_).view(1, -1, 1, 1), persistent=False)
        self.batch_size = batch_size
        self.classes: list[str] = list(getattr(fitted.target, "classes_", []))
        self.multilabel = fitted.model.task.name == "multilabel"
        self.delimiter = str(getattr(fitted.target, "delimiter", "|"))
        self.num_features = int(fitted.model.task.dims.fused_dim or 0)

    def _batch(self, images: Tensor) -> Batch:
        pixels = images.float()
        if pixels.shape[1] != self.channels:
            pixels = pixels.mean(1, keepdim=True).expand(-1, self.channels, -1, -1)
        if tuple(pixels.shape[-2:]) != self.size:
            pixels = F.interpolate(pixels, size=self.size, mode="bilinear", align_corners=False)
        pixels = (pixels - self.mean) / self.std
        present = torch.ones(len(pixels), dtype=torch.bool)
        return Batch({self.input: {"pixels": pixels}}, {self.input: present}, None, torch.arange(len(pixels)))

    @torch.no_grad()
    def forward(self, images: Tensor) -> Tensor:
        """``(N, C, H, W)`` in [0, 1] -> the judge's fused features ``(N, D)``."""
        parts = []
        for start in range(0, len(images), self.batch_size):
            out = self.model.fuse(self._batch(images[start : start + self.batch_size]))
            assert out.fused is not None
            parts.append(out.fused.float())
        return torch.cat(parts) if parts else torch.zeros(0, self.num_features)

    @torch.no_grad()
    def logits(self, images: Tensor) -> Tensor:
        """The judge's logits ``(N, K)``, column ``k`` for ``classes[k]`` (a multi-label judge's
        sigmoid of them is each label's probability)."""
        parts = []
        for start in range(0, len(images), self.batch_size):
            batch = self._batch(images[start : start + self.batch_size])
            parts.append(self.model.task.predict_step(self.model.fuse(batch), batch)["logits"].float())
        return torch.cat(parts) if parts else torch.zeros(0, len(self.classes))

    def classify(self, images: Tensor) -> list[str]:
        """The judge's class for each image; a multi-label judge's labels of probability 0.5 or more,
        joined by its label delimiter in the order of ``classes`` (as its predictions are written)."""
        logits = self.logits(images)
        if self.multilabel:
            chosen = (logits >= 0.0).tolist()  # sigmoid >= 0.5
            return [
                self.delimiter.join(c for c, on in zip(self.classes, row, strict=True) if on)
                for row in chosen
            ]
        return [self.classes[i] for i in logits.argmax(1).tolist()]


def conditional_accuracy(judge: JudgeFeatures, images: Tensor, conditions: list[Any]) -> float:
    """Share of generated images ``(N, C, H, W)`` the judge classifies as their condition's class."""
    predicted = judge.classify(images)
    return float(np.mean([p == str(c) for p, c in zip(predicted, conditions, strict=True)]))


def fid_kid(judge: JudgeFeatures, real: Tensor, fake: Tensor, subset_size: int = 1000) -> dict[str, float]:
    """FID and KID (mean and std over subsets) of ``fake`` against ``real`` images in [0, 1], on the
    judge's features (torchmetrics' FrechetInceptionDistance / KernelInceptionDistance with a custom
    ``feature`` module; no Inception download). Lower is better."""
    from torchmetrics.image.fid import FrechetInceptionDistance
    from torchmetrics.image.kid import KernelInceptionDistance

    fid = FrechetInceptionDistance(feature=judge, reset_real_features=False)
    size = max(2, min(subset_size, len(real), len(fake)))
    kid = KernelInceptionDistance(feature=judge, subset_size=size, subsets=50)
    for metric in (fid, kid):
        metric.update(real.float(), real=True)
        metric.update(fake.float(), real=False)
    kid_mean, kid_std = kid.compute()
    return {
        "fid_judge_error": float(fid.compute()),
        "kid_judge_error": float(kid_mean),
        "kid_judge_std": float(kid_std),
    }


def nearest_training_distance(images: Tensor, training: Tensor, chunk: int = 512) -> Tensor:
    """Per image ``(N,)``: the root-mean-square pixel distance to its nearest training image.

    Compare the generated images' distances with real held-out images' (same call): generated
    images much closer to the training set than real ones are are copies (memorisation).
    """
    flat_train = training.float().flatten(1)  # (M, C*H*W)
    best = []
    for start in range(0, len(images), chunk):
        part = images[start : start + chunk].float().flatten(1)
        best.append(torch.cdist(part, flat_train).min(1).values)
    pixels = flat_train.shape[1]
    return torch.cat(best) / pixels**0.5 if best else torch.zeros(0)


def linear_probe_score(
    train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray, test_y: np.ndarray, seed: int = 0
) -> float:
    """Accuracy of a logistic regression (scikit-learn) fitted on ``train_x`` ``(N, D)`` latents."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    probe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, random_state=seed))
    probe.fit(train_x, train_y)
    return float(probe.score(test_x, test_y))
