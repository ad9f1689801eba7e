"""The LTX-2 adapter: the only place in the trainer that knows LTX-2.

It loads the components (a diffusers-format folder or a hub id), freezes what is frozen,
encodes prompts / video / audio into what the transformer consumes, runs the transformer
with a separate timestep per modality, and samples mp4 files with sound.

It receives every setting it needs as arguments (`LTX2Settings`); it never reads trainer
config objects (SOP root cause #18 was model code reaching for `self.train_config`).

Tensor conventions:
- video latents are unpacked (B, C, F', H', W'), normalised with the VAE's latents_mean/std;
- audio latents are packed (B, L, C_a * M') tokens, normalised with the audio VAE's stats;
- sigmas are in [0, 1]; the transformer receives timesteps = sigma * 1000.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

import torch

from toolkit.audio_features import SAMPLE_RATE, log_mel_spectrogram
from toolkit.errors import UserInputError

log = logging.getLogger(__name__)

# Modules of the transformer blocks that carry the audio stream or the cross-modal exchange.
AUDIO_MODULE_NAMES = ("audio_attn1", "audio_attn2", "audio_ff", "audio_to_video_attn", "video_to_audio_attn")

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")

DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}


@dataclass
class LTX2Settings:
    """What the adapter needs to know, handed over by the training process."""

    dtype: torch.dtype = torch.float32
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    train_text_encoder: bool = False
    gradient_checkpointing: bool = True
    use_cross_timestep: bool | None = None  # None: from the transformer config (LTX-2.3 uses it)


@dataclass
class PromptEmbeds:
    """Connector outputs for a batch of prompts.

    video: (B, T, Dv), audio: (B, T, Da), mask: (B, T) float32 multiplicative (1 = token).
    """

    video: torch.Tensor
    audio: torch.Tensor
    mask: torch.Tensor

    def to(self, device) -> "PromptEmbeds":
        return PromptEmbeds(self.video.to(device), self.audio.to(device), self.mask.to(device))

    @staticmethod
    def cat(items: list["PromptEmbeds"]) -> "PromptEmbeds":
        if len(items) == 1:  # batch size 1: no copy on the hot path
            return items[0]
        return PromptEmbeds(
            torch.cat([p.video for p in items]),
            torch.cat([p.audio for p in items]),
            torch.cat([p.mask for p in items]),
        )


@dataclass
class TextHidden:
    """Stacked Gemma hidden states before the connectors (what a text cache stores).

    hidden: (B, T, H * (layers + 1)), mask: (B, T) int64 (1 = token).
    """

    hidden: torch.Tensor
    mask: torch.Tensor


def resolve_model_path(name_or_path: str) -> tuple[str, bool]:
    """Return (path_or_id, is_local). A path that does not exist and is not a hub id is an error."""
    path = Path(name_or_path).expanduser()
    if path.exists():
        if not (path / "transformer").is_dir():
            raise UserInputError(
                f"model.name_or_path '{name_or_path}' is a folder but has no 'transformer' subfolder: "
                "point it at a diffusers-format LTX-2 folder (transformer/, vae/, audio_vae/, vocoder/, "
                "connectors/, text_encoder/, tokenizer/, scheduler/)"
            )
        return str(path), True
    looks_local = name_or_path.startswith(("/", ".", "~")) or "\\" in name_or_path
    if looks_local or not _HUB_ID.match(name_or_path):
        raise UserInputError(
            f"model.name_or_path '{name_or_path}' does not exist: give a local diffusers-format folder "
            "or a hub id such as Lightricks/LTX-2"
        )
    return name_or_path, False


class LTX2Model:
    """Loaded LTX-2 components plus the operations training and sampling need."""

    def __init__(self, components: dict, settings: LTX2Settings, source: str):
        self.settings = settings
        self.source = source
        self.transformer = components["transformer"]
        self.vae = components["vae"]
        self.audio_vae = components["audio_vae"]
        self.vocoder = components["vocoder"]
        self.connectors = components["connectors"]
        self.text_encoder = components["text_encoder"]
        self.tokenizer = components["tokenizer"]
        self.scheduler = components["scheduler"]
        self.text_max_length = min(1024, int(getattr(self.tokenizer, "model_max_length", 1024)))
        self._freeze()

    # ------------------------------------------------------------------ loading
    @classmethod
    def load(cls, name_or_path: str, settings: LTX2Settings) -> "LTX2Model":
        """Load every component from a diffusers-format folder or hub id."""
        from diffusers import (
            AutoencoderKLLTX2Audio,
            AutoencoderKLLTX2Video,
            FlowMatchEulerDiscreteScheduler,
            LTX2VideoTransformer3DModel,
        )
        from diffusers.pipelines.ltx2.connectors import LTX2TextConnectors
        from diffusers.pipelines.ltx2.vocoder import LTX2Vocoder
        from transformers import AutoTokenizer, Gemma3ForConditionalGeneration

        source, is_local = resolve_model_path(name_or_path)
        dtype = settings.dtype
        spec = {
            "transformer": (LTX2VideoTransformer3DModel, dtype),
            "vae": (AutoencoderKLLTX2Video, dtype),
            "audio_vae": (AutoencoderKLLTX2Audio, dtype),
            "vocoder": (LTX2Vocoder, dtype),
            "connectors": (LTX2TextConnectors, dtype),
            "text_encoder": (Gemma3ForConditionalGeneration, dtype),
        }
        components: dict = {}
        try:
            for name, (klass, comp_dtype) in spec.items():
                components[name] = klass.from_pretrained(source, subfolder=name, torch_dtype=comp_dtype)
            components["tokenizer"] = AutoTokenizer.from_pretrained(source, subfolder="tokenizer")
            components["scheduler"] = FlowMatchEulerDiscreteScheduler.from_pretrained(source, subfolder="scheduler")
        except (OSError, ValueError) as exc:
            where = "folder" if is_local else "hub id (not in the local Hugging Face cache?)"
            raise UserInputError(
                f"model.name_or_path '{name_or_path}': could not load LTX-2 from this {where}: {exc}. "
                "Download the weights first (see README: 'Getting the LTX-2 weights')."
            ) from exc
        for name in spec:
            components[name].to(settings.device)
        return cls(components, settings, source)

    def _freeze(self) -> None:
        """Freeze everything; the network adds the only trainable parameters.

        VAEs, vocoder and text encoder are frozen in eval mode. Connectors are frozen too
        unless the text encoder is trained (SOP change F), in which case the network
        targets them and they run with gradients.
        """
        for module in (self.vae, self.audio_vae, self.vocoder, self.text_encoder, self.connectors):
            module.requires_grad_(False)
            module.eval()
        self.transformer.requires_grad_(False)
        if self.settings.gradient_checkpointing:
            self.transformer.enable_gradient_checkpointing()

    @property
    def use_cross_timestep(self) -> bool:
        if self.settings.use_cross_timestep is not None:
            return self.settings.use_cross_timestep
        # LTX-2.3 checkpoints modulate cross-attention with the other modality's sigma.
        return bool(getattr(self.transformer.config, "cross_attn_mod", False))

    @property
    def audio_mel_bins(self) -> int:
        return int(self.audio_vae.config.mel_bins)

    @property
    def vocoder_sample_rate(self) -> int:
        return int(getattr(self.vocoder.config, "output_sampling_rate", SAMPLE_RATE))

    # ------------------------------------------------------------------ text
    @torch.no_grad()
    def encode_text_hidden(self, prompts: list[str]) -> TextHidden:
        """Run the tokenizer and Gemma; no gradients ever reach the text encoder."""
        self.tokenizer.padding_side = "left"
        tokens = self.tokenizer(
            [p.strip() for p in prompts],
            padding="max_length",
            max_length=self.text_max_length,
            truncation=True,
            add_special_tokens=True,
            return_tensors="pt",
        )
        device = self.settings.device
        out = self.text_encoder(
            input_ids=tokens.input_ids.to(device),
            attention_mask=tokens.attention_mask.to(device),
            output_hidden_states=True,
        )
        hidden = torch.stack(out.hidden_states, dim=-1).flatten(2, 3).to(self.settings.dtype)
        return TextHidden(hidden=hidden, mask=tokens.attention_mask.to(device))

    def run_connectors(self, text: TextHidden) -> PromptEmbeds:
        """Connectors: with gradients only when the text side is trained (SOP F)."""
        grad = self.settings.train_text_encoder and torch.is_grad_enabled()
        with torch.set_grad_enabled(grad):
            video, audio, mask = self.connectors(text.hidden, text.mask, padding_side="left")
        # The transformer turns this multiplicative mask into an additive bias in its own
        # dtype; float32 here keeps it independent of the compute dtype (SOP change AI).
        return PromptEmbeds(video=video, audio=audio, mask=mask.to(torch.float32))

    def encode_prompts(self, prompts: list[str]) -> PromptEmbeds:
        return self.run_connectors(self.encode_text_hidden(prompts))

    # ------------------------------------------------------------------ media
    @torch.no_grad()
    def encode_video(self, frames: torch.Tensor) -> torch.Tensor:
        """frames: (B, 3, F, H, W) in [-1, 1], F = 8k+1, H and W multiples of 32.

        Returns normalised latents (B, C, (F-1)/8+1, H/32, W/32) float32.
        """
        from diffusers import LTX2Pipeline

        frames = frames.to(self.settings.device, self.vae.dtype)
        latents = self.vae.encode(frames).latent_dist.mode()
        latents = LTX2Pipeline._normalize_latents(
            latents, self.vae.latents_mean, self.vae.latents_std, self.vae.config.scaling_factor
        )
        return latents.float()

    @torch.no_grad()
    def encode_audio(self, waveform: torch.Tensor) -> torch.Tensor:
        """waveform: (B, 2, N) at 16 kHz. Returns packed normalised latents (B, L, C_a*M') float32.

        L = (N//160)//4 + 1: the causal encoder's real length, which is what the transformer
        must be told (not the pipeline's round(seconds*25)).
        """
        from diffusers import LTX2Pipeline

        mel = log_mel_spectrogram(waveform.float(), n_mels=self.audio_mel_bins)
        mel = mel.to(self.settings.device, self.audio_vae.dtype)
        latents = self.audio_vae.encode(mel).latent_dist.mode()  # (B, C_a, L, M')
        packed = LTX2Pipeline._pack_audio_latents(latents)
        packed = LTX2Pipeline._normalize_audio_latents(
            packed, self.audio_vae.latents_mean, self.audio_vae.latents_std
        )
        return packed.float()

    def silent_audio_latent(self, num_samples: int, batch: int = 1) -> torch.Tensor:
        """The packed latent of `num_samples` samples of stereo silence (SOP changes D/E)."""
        return self.encode_audio(torch.zeros(batch, 2, num_samples))

    # ------------------------------------------------------------------ transformer
    def predict(
        self,
        noisy_video: torch.Tensor,
        noisy_audio: torch.Tensor,
        sigma_video: torch.Tensor,
        sigma_audio: torch.Tensor,
        prompt: PromptEmbeds,
        fps: float,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One joint forward pass.

        noisy_video: (B, C, F', H', W'); noisy_audio: (B, L, Ca); sigma_*: (B,) in [0, 1],
        one per sample and per modality. Returns (video velocity (B, C, F', H', W'),
        audio velocity (B, L, Ca)) in float32.
        """
        from diffusers import LTX2Pipeline

        batch, _, frames, height, width = noisy_video.shape
        dtype = self.settings.dtype
        device = self.settings.device
        hidden = LTX2Pipeline._pack_latents(noisy_video).contiguous().to(device, dtype)
        audio_hidden = noisy_audio.contiguous().to(device, dtype)
        t_video = (sigma_video * 1000.0).to(device, torch.float32)
        t_audio = (sigma_audio * 1000.0).to(device, torch.float32)
        video_pred, audio_pred = self.transformer(
            hidden_states=hidden,
            audio_hidden_states=audio_hidden,
            encoder_hidden_states=prompt.video.to(device, dtype),
            audio_encoder_hidden_states=prompt.audio.to(device, dtype),
            timestep=t_video,
            audio_timestep=t_audio,
            sigma=t_video,
            audio_sigma=t_audio,
            encoder_attention_mask=prompt.mask.to(device),
            audio_encoder_attention_mask=prompt.mask.to(device),
            num_frames=frames,
            height=height,
            width=width,
            fps=fps,
            audio_num_frames=noisy_audio.shape[1],
            use_cross_timestep=self.use_cross_timestep,
            return_dict=False,
        )
        video_pred = LTX2Pipeline._unpack_latents(video_pred.float(), frames, height, width)
        return video_pred, audio_pred.float()

    def video_token_count(self, latent_shape: tuple[int, ...]) -> int:
        """Tokens of an unpacked video latent (patch size 1): F' * H' * W'."""
        _, _, frames, height, width = latent_shape
        return frames * height * width

    # ------------------------------------------------------------------ sampling
    def pipeline(self):
        """An LTX2Pipeline over the loaded components (the network stays applied)."""
        from diffusers import LTX2Pipeline

        return LTX2Pipeline(
            scheduler=self.scheduler,
            vae=self.vae,
            audio_vae=self.audio_vae,
            text_encoder=self.text_encoder,
            tokenizer=self.tokenizer,
            connectors=self.connectors,
            transformer=self.transformer,
            vocoder=self.vocoder,
        )

    @torch.no_grad()
    def generate(
        self,
        prompt: str,
        negative_prompt: str,
        width: int,
        height: int,
        num_frames: int,
        fps: float,
        steps: int,
        guidance_scale: float,
        seed: int,
    ) -> tuple[torch.Tensor, torch.Tensor, int]:
        """Generate one clip. Returns (frames uint8 (F, H, W, 3), audio (2, N) float, sample_rate)."""
        pipe = self.pipeline()
        pipe.set_progress_bar_config(disable=True)
        generator = torch.Generator(device="cpu").manual_seed(seed)
        was_training = self.transformer.training
        self.transformer.eval()
        try:
            out = pipe(
                prompt=prompt,
                negative_prompt=negative_prompt or None,
                width=width,
                height=height,
                num_frames=num_frames,
                frame_rate=fps,
                num_inference_steps=steps,
                guidance_scale=guidance_scale,
                audio_guidance_scale=guidance_scale,
                stg_scale=0.0,
                audio_stg_scale=0.0,
                modality_scale=1.0,
                audio_modality_scale=1.0,
                guidance_rescale=0.0,
                audio_guidance_rescale=0.0,
                use_cross_timestep=self.use_cross_timestep,
                generator=generator,
                output_type="np",
                max_sequence_length=self.text_max_length,
            )
        finally:
            self.transformer.train(was_training)
        frames = torch.from_numpy((out.frames[0] * 255.0).round().clip(0, 255).astype("uint8"))
        audio = out.audio[0].float().cpu()
        return frames, audio, self.vocoder_sample_rate
