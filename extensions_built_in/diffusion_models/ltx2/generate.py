"""Sampling one clip with diffusers' LTX-2 pipelines, holding no more than a training step does.

Two things make a sample fit where training fits (docs/memory.md, "Phases"):

- **No text side on the device.** Prompts come from the run's text cache: while the
  connectors are frozen, their outputs for each sample prompt were made once before training
  and the pipeline gets them through `CachedConnectorOutputs` (its own connectors call returns
  them); neither Gemma nor the connectors is loaded. Trained connectors run as usual.
- **Guidance passes one after another** (`OnePassAtATime`) when the pipeline's batched
  passes (prompt and negative prompt, 2x the tokens) would need more than a training step
  (toolkit/memory/placement.py decides): the transformer then sees one pass at a time and the
  pipeline still gets its batched result.

The video VAE decodes in tiles when the run's start-up rule says a whole sample would not fit
(`vae_decode_tiling`, toolkit/memory/placement.py).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch
from diffusers import LTX2ImageToVideoPipeline, LTX2Pipeline
from PIL import Image

from extensions_built_in.diffusion_models.ltx2.component_placement import configure_vae_tiling
from extensions_built_in.diffusion_models.ltx2.prompt_embeds import PromptEmbeds
from extensions_built_in.diffusion_models.ltx2.stg import perturbable, stg_blocks, transformer_depth
from toolkit.memory.placement import guidance_in_sequence


class CachedConnectorOutputs(torch.nn.Module):
    """Stands where the pipeline calls its text connectors: returns the cached outputs of the
    frozen connectors for this call's prompts ([negative, prompt] with guidance, as the
    pipeline batches them), whatever it is given (a placeholder of the right batch)."""

    def __init__(self, negative, prompt, guidance: bool, device, dtype):
        super().__init__()
        parts = [negative, prompt] if guidance else [prompt]
        self.video = torch.cat([p.video for p in parts]).to(device, dtype)
        self.audio = torch.cat([p.audio for p in parts]).to(device, dtype)
        self.mask = torch.cat([p.mask for p in parts]).to(device, torch.int64)  # the connectors' binary mask

    @property
    def device(self) -> torch.device:  # what the pipeline asks of each of its modules
        return self.video.device

    @property
    def dtype(self) -> torch.dtype:
        return self.video.dtype

    def forward(self, hidden, mask, padding_side: str = "left"):
        if hidden.shape[0] != self.video.shape[0]:
            raise RuntimeError(f"the pipeline asked for {hidden.shape[0]} prompt(s), {self.video.shape[0]} are cached")
        return self.video, self.audio, self.mask


class OnePassAtATime(torch.nn.Module):
    """The transformer as the pipeline sees it, running a batched call one row at a time.

    The pipeline batches guidance passes (negative and positive prompt); activations of a
    forward grow with the batch, so each row runs alone and the rows' outputs are joined.
    Every other attribute is the transformer's."""

    def __init__(self, transformer: torch.nn.Module):
        super().__init__()
        self.inner = transformer

    def __getattr__(self, name: str):
        try:
            return super().__getattr__(name)
        except AttributeError:
            return getattr(self.inner, name)

    def forward(self, **kwargs):
        batch = kwargs["hidden_states"].shape[0]
        if batch == 1:
            return self.inner(**kwargs)
        rows = []
        for row in range(batch):
            rows.append(self.inner(**{k: v[row:row + 1] if isinstance(v, torch.Tensor) and v.ndim and v.shape[0] == batch
                                      else v for k, v in kwargs.items()}))
        return tuple(torch.cat(parts) for parts in zip(*rows, strict=True))


def guidance_passes(guidance_scale: float, audio_guidance_scale: float) -> int:
    """The rows of the pipeline's batched transformer call (2 with classifier-free guidance)."""
    return 2 if guidance_scale > 1.0 or audio_guidance_scale > 1.0 else 1


@torch.no_grad()
def generate(model, prompt: str, negative_prompt: str, width: int, height: int, num_frames: int, fps: float,
             steps: int, guidance_scale: float, seed: int, image: str | None = None,
             audio_guidance_scale: float | None = None, stg_scale: float = 0.0,
             audio_stg_scale: float | None = None, encode_text: Callable[[str], object] | None = None):
    """One clip through `model` (an LTX2Model) as it is now; see LTX2Model.generate."""
    settings = model.settings
    audio_guidance = guidance_scale if audio_guidance_scale is None else audio_guidance_scale
    passes = guidance_passes(guidance_scale, audio_guidance)
    extra = {}
    if image is not None:
        with Image.open(Path(image).expanduser()) as handle:
            extra["image"] = handle.convert("RGB")
    # Prompts come as the frozen connectors' outputs (cached) or as Gemma's output, whose masks
    # are made bool here (SOP change AH): the connectors and the transformer then derive every
    # additive mask in the compute dtype themselves.
    encode_text = encode_text or (lambda p: model.encode_text_hidden([p]))
    text, negative = encode_text(prompt), encode_text(negative_prompt or "")
    connectors = model.connectors
    if isinstance(text, PromptEmbeds):
        connectors = CachedConnectorOutputs(negative, text, passes == 2, settings.device, settings.dtype)
        placeholder = torch.zeros(1, text.video.shape[1], 1, device=settings.device, dtype=settings.dtype)
        text_inputs = dict(prompt_embeds=placeholder, prompt_attention_mask=text.mask.to(settings.device).bool(),
                           negative_prompt_embeds=placeholder,
                           negative_prompt_attention_mask=negative.mask.to(settings.device).bool())
    else:
        text_inputs = dict(prompt_embeds=text.hidden, prompt_attention_mask=text.mask.bool(),
                           negative_prompt_embeds=negative.hidden, negative_prompt_attention_mask=negative.mask.bool())
    tokens = ((num_frames - 1) // 8 + 1) * (height // 32) * (width // 32)
    in_sequence = guidance_in_sequence(passes, tokens, settings.train_video_tokens)
    transformer = OnePassAtATime(model.transformer) if in_sequence else model.transformer
    klass = LTX2ImageToVideoPipeline if image is not None else LTX2Pipeline
    pipe = klass(scheduler=model.scheduler, vae=model.vae, audio_vae=model.audio_vae, text_encoder=None,
                 tokenizer=model.tokenizer, connectors=connectors, transformer=transformer, vocoder=model.vocoder)
    pipe.set_progress_bar_config(disable=True)
    generator = torch.Generator(device="cpu").manual_seed(seed)
    audio_stg = stg_scale if audio_stg_scale is None else audio_stg_scale
    blocks = stg_blocks(model.version.stg_blocks, transformer_depth(model.transformer))
    use_stg = stg_scale > 0 or audio_stg > 0
    was_training = model.transformer.training
    # Sampling is inference: no rank or module dropout. Trained connectors
    # (train_text_encoder) carry LoRA layers too, in training mode since peft added them;
    # each layer's own mode is restored after, so training keeps its dropout.
    connector_modes = {module: module.training for module in connectors.modules()}
    configure_vae_tiling(model.vae, settings.vae_decode_tiling, settings.vae_tile)
    model.transformer.eval()
    connectors.eval()
    try:
        with model.visiting(model.vae, model.audio_vae, model.vocoder), \
                perturbable(model.transformer, blocks if use_stg else []):
            out = pipe(
                **extra,
                **text_inputs,
                width=width,
                height=height,
                num_frames=num_frames,
                frame_rate=fps,
                num_inference_steps=steps,
                guidance_scale=guidance_scale,
                audio_guidance_scale=audio_guidance,
                stg_scale=stg_scale,
                audio_stg_scale=audio_stg,
                spatio_temporal_guidance_blocks=blocks if use_stg else None,
                modality_scale=1.0,
                audio_modality_scale=1.0,
                guidance_rescale=0.0,
                audio_guidance_rescale=0.0,
                use_cross_timestep=model.use_cross_timestep,
                generator=generator,
                output_type="np",
                max_sequence_length=model.text_max_length,
            )
    finally:
        model.transformer.train(was_training)
        for module, mode in connector_modes.items():
            module.training = mode
    frames = torch.from_numpy((out.frames[0] * 255.0).round().clip(0, 255).astype("uint8"))
    audio = out.audio[0].float().cpu()
    return frames, audio, model.vocoder_sample_rate
