"""Multimodal autoencoders: rebuild chosen inputs from one latent vector.

``model.task: {type: autoencoder}`` needs no label: the targets are the inputs themselves (the
batch's features). Each reconstructed input gets a decoder from :mod:`polyfuse.tasks.input_decoders`
(image: ``mlp`` or ``deconv``; audio: ``mlp`` to a log-mel; tabular: ``mlp``; text: ``rnn``, a
GRU language model that writes the text back) and its own loss term, ``{input}_reconstruction_loss``.
Text inputs of a pretrained text encoder are read (encoded and fused) but not rebuilt.

``variational``:

- ``none``: the fused vector -> an MLP -> the latent; a plain autoencoder.
- ``product``: each input's pooled vector gives a Gaussian expert; the posterior is their product
  with the prior (MVAE, Wu and Goodman 2018, https://arxiv.org/abs/1802.05335). Training sums the
  joint ELBO and, with ``unimodal_elbos``, one ELBO per single input, so that one input alone
  infers the others.
- ``mixture``: the posterior is the uniform mixture of the experts (MMVAE, Shi et al. 2019,
  https://arxiv.org/abs/1911.03393); each expert's draw rebuilds every input. The KL is taken per
  expert (an upper bound of the mixture's, by convexity) and one draw is used (no IWAE/DReG).

The latent (the posterior mean) is what ``polyfuse embed`` exports. Absent inputs at prediction
time are inferred: ``reconstruction_photo`` of a row with only its sound is an image from sound.

Legend: B batch, L latent width, N rows of a split.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import pandas as pd
import torch
from pydantic import Field
from torch import Tensor, nn

from polyfuse.data.batch import Batch
from polyfuse.data.targets import TargetProcessor
from polyfuse.tasks._experts import (
    GaussianExperts,
    kl_to_prior,
    mixture_mean,
    product_of_experts,
    sample,
)
from polyfuse.tasks._registry import register_task
from polyfuse.tasks.base import ModelDims, StepOutputs, Task, TaskConfig
from polyfuse.tasks.input_decoders import InputDecoder, create_input_decoder, decoder_modalities
from polyfuse.tasks.input_decoders._image import ImageDecoder
from polyfuse.tasks.input_decoders.base import mlp
from polyfuse.tasks.input_decoders.text_rnn import TextRnnDecoder

if TYPE_CHECKING:
    from polyfuse.model import Fused

log = logging.getLogger("polyfuse")


class AutoencoderConfig(TaskConfig):
    """Options of :class:`AutoencoderTask`."""

    inputs: list[str] | None = Field(
        None, description="inputs to rebuild (default: every input whose modality has a decoder)"
    )
    latent_dim: int = Field(16, ge=1, description="width L of the latent vector")
    hidden_dims: list[int] = Field(
        default_factory=list, description="hidden widths of the MLP from the fused vector to the latent"
    )
    decoders: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="decoder options keyed by modality or input, e.g. {image: {type: mlp,"
        " hidden_dims: [64, 128]}} (image: mlp|deconv, audio: mlp, tabular: mlp, text: rnn)",
    )
    variational: Literal["none", "product", "mixture"] = Field(
        "none", description="none, or a VAE whose posterior is a product (MVAE) or mixture (MMVAE) of experts"
    )
    beta: float = Field(
        0.01,
        ge=0.0,
        description="weight of the KL term (variational only); the reconstruction terms are per-value"
        " means, so the KL (summed over L) needs a small weight to avoid posterior collapse",
    )
    unimodal_elbos: bool = Field(
        True, description="product: add one ELBO per single input (MVAE's sub-sampled terms)"
    )
    loss_weights: dict[str, float] = Field(
        default_factory=dict, description="factor of each input's reconstruction loss (default 1)"
    )


@register_task("autoencoder", AutoencoderConfig, "rebuild the inputs from one latent (AE, MVAE, MMVAE)")
class AutoencoderTask(Task):
    """Inputs -> latent ``(B, L)`` -> each chosen input rebuilt by its decoder."""

    name: ClassVar[str] = "autoencoder"
    primary_metric: ClassVar[str] = "reconstruction_loss"
    config: AutoencoderConfig
    decoders: dict[str, InputDecoder]  # an nn.ModuleDict at run time

    def __init__(self, config: AutoencoderConfig, dims: ModelDims, target: TargetProcessor | None) -> None:
        super().__init__(config, dims, target)
        specs = dims.input_specs
        rebuilt = _rebuilt_inputs(config, specs)
        self.decoders = nn.ModuleDict(  # type: ignore[assignment]
            {
                n: create_input_decoder(
                    specs[n]["modality"],
                    _section(config.decoders, n, specs[n]["modality"]),
                    specs[n],
                    config.latent_dim,
                )
                for n in rebuilt
            }
        )
        if config.variational == "none":
            if dims.fused_dim is None:
                raise ValueError("a plain autoencoder reads the fused vector: the model needs a fusion")
            self.to_latent: nn.Module = mlp([dims.fused_dim, *config.hidden_dims, config.latent_dim])
        else:
            self.experts = GaussianExperts(dims.input_dims, config.latent_dim)

    # ------------------------------------------------------------------ before building
    @classmethod
    def target_columns(cls, config: TaskConfig, label: str | None) -> list[str]:
        return []

    @classmethod
    def needs_fusion(cls, config: TaskConfig) -> bool:
        assert isinstance(config, AutoencoderConfig)
        return config.variational == "none"

    @classmethod
    def create_target(cls, config: TaskConfig, columns: list[str], delimiter: str) -> None:
        return None

    # ------------------------------------------------------------------ latent
    def latent(self, out: Fused) -> Tensor:
        """The latent ``(B, L)``: the deterministic code, or the posterior mean."""
        if self.config.variational == "none":
            assert out.fused is not None
            return self.to_latent(out.fused.float())  # type: ignore[no-any-return]
        mu, logvar, present = self.experts(out.pooled, out.present)
        if self.config.variational == "product":
            return product_of_experts(mu, logvar, present)[0]
        return mixture_mean(mu, present)

    def embed(self, out: Fused) -> Tensor | None:
        return self.latent(out)

    @property
    def embed_dim(self) -> int | None:
        return self.config.latent_dim

    # ------------------------------------------------------------------ steps
    def _reconstruction_terms(self, latent: Tensor, batch: Batch, rows: Tensor) -> dict[str, Tensor]:
        """Each decoder's mean row loss over ``rows`` (B,) bool where its input is present."""
        terms = {}
        for name, decoder in self.decoders.items():
            keep = (rows & batch.present[name]).float()  # (B,)
            row_loss = decoder.row_loss(decoder(latent), batch.inputs[name])  # (B,)
            weight = self.config.loss_weights.get(name, 1.0)
            terms[name] = weight * (row_loss * keep).sum() / keep.sum().clamp(min=1.0)
        return terms

    def training_step(self, out: Fused, batch: Batch) -> dict[str, Tensor]:
        every = torch.ones(len(batch), dtype=torch.bool, device=next(iter(out.present.values())).device)
        if self.config.variational == "none":
            recon = self._reconstruction_terms(self.latent(out), batch, every)
            return {f"{n}_reconstruction_loss": v for n, v in recon.items()}
        mu, logvar, present = self.experts(out.pooled, out.present)
        # each ELBO: (latent mean, latent logvar, rows it covers)
        elbos: list[tuple[Tensor, Tensor, Tensor]] = []
        if self.config.variational == "product":
            elbos.append((*product_of_experts(mu, logvar, present), present.any(1)))
            if self.config.unimodal_elbos and present.shape[1] > 1:
                for m in range(present.shape[1]):
                    only = torch.zeros_like(present)
                    only[:, m] = present[:, m]
                    elbos.append((*product_of_experts(mu, logvar, only), present[:, m]))
        else:
            elbos += [(mu[:, m], logvar[:, m], present[:, m]) for m in range(present.shape[1])]
        totals: dict[str, Tensor] = {}
        kl = torch.zeros((), device=mu.device)
        for z_mu, z_logvar, rows in elbos:
            for name, value in self._reconstruction_terms(sample(z_mu, z_logvar), batch, rows).items():
                totals[name] = totals.get(name, 0.0) + value / len(elbos)
            weight = rows.float()
            kl = kl + (kl_to_prior(z_mu, z_logvar) * weight).sum() / weight.sum().clamp(min=1.0) / len(elbos)
        terms = {f"{n}_reconstruction_loss": v for n, v in totals.items()}
        terms["kl_loss"] = self.config.beta * kl
        return terms

    def decode(self, latent: Tensor) -> dict[str, Tensor]:
        """Latents ``(B, L)`` -> each rebuilt input's reconstruction ``{input: (B, ...)}``."""
        if not torch.isfinite(latent).all():
            raise ValueError("a latent holds NaN or infinite values: refused")
        device = next(self.parameters()).device
        return {name: decoder(latent.to(device)).float() for name, decoder in self.decoders.items()}

    def predict_step(self, out: Fused, batch: Batch) -> StepOutputs:
        latent = self.latent(out).float()
        outputs: StepOutputs = {"latent": latent}
        for name, decoder in self.decoders.items():
            outputs[f"reconstruction/{name}"] = decoder(latent).float()
        return outputs

    def validation_step(self, out: Fused, batch: Batch) -> StepOutputs:
        outputs = self.predict_step(out, batch)
        for name, decoder in self.decoders.items():
            recon = outputs[f"reconstruction/{name}"]
            outputs[f"row_loss/{name}"] = decoder.row_loss(recon, batch.inputs[name]).float()
            outputs[f"present/{name}"] = batch.present[name]
            if isinstance(decoder, ImageDecoder | TextRnnDecoder):
                outputs[f"truth/{name}"] = decoder.truth(batch.inputs[name])
        return outputs

    # ------------------------------------------------------------------ after a split
    def metrics(self, outputs: StepOutputs) -> dict[str, Any]:
        from polyfuse.tasks._image_metrics import image_reconstruction_metrics

        metrics: dict[str, Any] = {}
        total = 0.0
        for name, decoder in self.decoders.items():
            present = outputs[f"present/{name}"].bool()
            loss = float(outputs[f"row_loss/{name}"][present].mean()) if present.any() else float("nan")
            metrics[f"{name}_reconstruction_loss"] = loss
            total += loss * self.config.loss_weights.get(name, 1.0)
            if isinstance(decoder, ImageDecoder) and present.any():
                recon = outputs[f"reconstruction/{name}"][present]
                truth = outputs[f"truth/{name}"][present]
                metrics.update(image_reconstruction_metrics(recon, truth, prefix=name))
            if isinstance(decoder, TextRnnDecoder) and present.any():
                written = decoder.text(decoder.generate(outputs[f"reconstruction/{name}"][present]))
                truth_text = decoder.text(outputs[f"truth/{name}"][present])
                matches = [w == t for w, t in zip(written, truth_text, strict=True)]
                metrics[f"{name}_exact_match_score"] = sum(matches) / len(matches)
        metrics["reconstruction_loss"] = total
        return metrics

    def to_frame(self, outputs: StepOutputs, proba: bool = False) -> pd.DataFrame:
        """``prediction`` (the latent, a list of L floats), then ``reconstruction_{input}`` per
        rebuilt input (PNG bytes for images, lists of numbers otherwise)."""
        frame = pd.DataFrame({"prediction": [row.tolist() for row in outputs["latent"]]})
        for name, decoder in self.decoders.items():
            frame[f"reconstruction_{name}"] = decoder.to_values(outputs[f"reconstruction/{name}"])
        return frame


def _section(options: dict[str, dict[str, Any]], name: str, modality: str) -> dict[str, Any]:
    """Decoder options of an input: its own section over its modality's."""
    return {**options.get(modality, {}), **(options.get(name, {}) if name != modality else {})}


def _rebuilt_inputs(config: AutoencoderConfig, specs: dict[str, dict[str, Any]]) -> list[str]:
    """The inputs the task rebuilds: the named ones (checked), or every one a decoder can rebuild."""
    can = set(decoder_modalities())
    if config.inputs is not None:
        unknown = [n for n in config.inputs if n not in specs]
        if unknown:
            raise ValueError(
                f"autoencoder inputs {unknown} are not model inputs ({', '.join(sorted(specs))})"
            )
        cannot = [n for n in config.inputs if specs[n]["modality"] not in can]
        if cannot:
            raise ValueError(
                f"no decoder rebuilds {cannot} ({', '.join(specs[n]['modality'] for n in cannot)});"
                f" decoders exist for {', '.join(sorted(can))}"
            )
        return sorted(config.inputs)
    rebuilt = sorted(n for n, s in specs.items() if s["modality"] in can and _rebuildable(s))
    skipped = sorted(set(specs) - set(rebuilt))
    if skipped:
        log.info(
            "autoencoder: %s are read but not rebuilt (no decoder for their modality or processor)", skipped
        )
    if not rebuilt:
        raise ValueError(
            f"the autoencoder has nothing to rebuild: decoders exist for {', '.join(sorted(can))}"
        )
    return rebuilt


def _rebuildable(spec: dict[str, Any]) -> bool:
    """Whether an input is rebuilt by default: a text input only with its vocabulary (polyfuse's
    own text processor; a pretrained one's tokens are not decoded back)."""
    return spec["modality"] != "text" or bool(spec.get("vocabulary"))


__all__ = ["AutoencoderConfig", "AutoencoderTask", "InputDecoder"]
