"""The LTX-2 adapter: the only place in the trainer that knows LTX-2.

It loads the components of one LTX-2 version (loading.py; what differs between 2.0, 2.3 and
2.5 is the table in versions.py), freezes what is frozen,
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
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from extensions_built_in.diffusion_models.ltx2.conditioning import install_conditioning
from extensions_built_in.diffusion_models.ltx2.stg import perturbable, stg_blocks, transformer_depth
from extensions_built_in.diffusion_models.ltx2.versions import DEFAULT_ARCH, VERSIONS, LTX2Version
from toolkit.audio_features import SAMPLE_RATE, log_mel_spectrogram
from toolkit.configuration.defaults import config_field
from toolkit.errors import RunFailed
from toolkit.memory.attention import configure_attention
from toolkit.memory.offload import offload_blocks
from toolkit.memory.quantize import quantize_model

log = logging.getLogger(__name__)

# ai-toolkit qtypes this trainer has no backend for -> the closest one it has (same bit width).
QTYPE_SUBSTITUTES = {"convrot8": "qint8"}


@dataclass
class LTX2Settings:
    """What the adapter needs to know, handed over by the training process. Each default that
    is a config key's is the config's (toolkit/configuration/defaults.py)."""

    # The run picks these from train.dtype, process.device and the machine; built without a
    # run (tests, benchmarks on the CPU), the adapter computes in float32 on the CPU.
    dtype: torch.dtype = torch.float32
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    train_text_encoder: bool = config_field("train.train_text_encoder")
    gradient_checkpointing: bool = config_field("train.gradient_checkpointing")
    version: LTX2Version = field(default_factory=lambda: VERSIONS[DEFAULT_ARCH])
    # None: the version's routing (versions.py); "own" / "reference" / "cross" (conditioning.py)
    cross_timestep_routing: str | None = config_field("model.model_kwargs.cross_timestep_routing")
    # legacy model_kwargs key: True = "cross", False = "own"
    use_cross_timestep: bool | None = config_field("model.model_kwargs.use_cross_timestep")
    te_name_or_path: str | None = config_field("model.te_name_or_path")
    extras_name_or_path: str | None = config_field("model.extras_name_or_path")
    # model.model_kwargs weight-file paths that are set (dit_path, text_encoder_path, ...)
    file_paths: dict[str, str] = field(default_factory=dict)
    # memory and speed (toolkit/memory): weight-only quantization, layer offloading, compile
    quantize: bool = config_field("model.quantize")
    qtype: str = config_field("model.qtype")
    quantize_te: bool = config_field("model.quantize_te")
    qtype_te: str = config_field("model.qtype_te")
    layer_offloading: bool = config_field("model.layer_offloading")
    layer_offloading_transformer_percent: float = config_field("model.layer_offloading_transformer_percent")
    layer_offloading_text_encoder_percent: float = config_field("model.layer_offloading_text_encoder_percent")
    compile: bool = config_field("model.compile")
    compile_backend: Any = config_field("model.model_kwargs.compile_backend")  # a backend name or callable
    compile_mode: str | None = config_field("model.model_kwargs.compile_mode")
    # model.low_vram: VAEs, vocoder and text encoder rest on the CPU and visit the device
    # only while they work (caching, sampling); the transformer and connectors stay.
    low_vram: bool = config_field("model.low_vram")


@dataclass
class PromptEmbeds:
    """Connector outputs for a batch of prompts.

    video: (B, T, Dv), audio: (B, T, Da), mask: (B, T) float32 multiplicative (1 = token).
    """

    video: torch.Tensor
    audio: torch.Tensor
    mask: torch.Tensor

    def to(self, device) -> PromptEmbeds:
        return PromptEmbeds(self.video.to(device), self.audio.to(device), self.mask.to(device))

    @staticmethod
    def cat(items: list[PromptEmbeds]) -> PromptEmbeds:
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
        self.version = settings.version
        # The connectors' learnable registers (128 in 2.3+) need a length divisible by 128;
        # the reference pads every prompt to 1024.
        longest = min(1024, int(getattr(self.tokenizer, "model_max_length", 1024)))
        self.text_max_length = -(-longest // 128) * 128
        self.memory_notes: list[str] = []
        # What training forwards call: the transformer, or its DistributedDataParallel wrapper
        # under data parallel (toolkit/processes/parallel.py); `self.transformer` stays the real module.
        self.runner_wrapper: torch.nn.Module | None = None
        self._freeze()

        self.conditioning = install_conditioning(self.transformer, self.cross_timestep_routing,
                                                 self.version.keyframe_first_frame)

    # ------------------------------------------------------------------ loading
    @classmethod
    def load(cls, name_or_path: str, settings: LTX2Settings) -> LTX2Model:
        """Load every component of `settings.version` (loading.load_components: a diffusers
        folder or hub id, plus te_name_or_path / extras_name_or_path)."""
        from extensions_built_in.diffusion_models.ltx2.loading import ModelSources, load_components  # noqa: PLC0415 (heavy (extensions_built_in.diffusion_models.ltx2.loading): loaded when first needed, so --check and start-up stay fast)

        sources = ModelSources(name_or_path, settings.te_name_or_path, settings.extras_name_or_path,
                               dict(settings.file_paths))
        components, source = load_components(settings.version, sources, settings.dtype)
        spec = ("transformer", "vae", "audio_vae", "vocoder", "connectors", "text_encoder")
        notes = cls._reduce_memory(components, settings)
        resident = ("transformer", "connectors") if settings.low_vram else tuple(spec)
        for name in resident:
            components[name].to(settings.device)
        model = cls(components, settings, source)
        model.memory_notes = notes + model._setup_compute()
        return model

    @staticmethod
    def _reduce_memory(components: dict, settings: LTX2Settings) -> list[str]:
        """Quantize and offload (before the move to the device, so offloaded weights never
        reach it). Transformer: the Linear layers of its blocks (entry/exit projections,
        embeddings and norms stay in full precision); text encoder: its language layers."""
        notes = []
        transformer, text_encoder = components["transformer"], components["text_encoder"]
        for key in ("qtype", "qtype_te"):
            wanted = getattr(settings, key)
            if wanted in QTYPE_SUBSTITUTES and (settings.quantize if key == "qtype" else settings.quantize_te):
                setattr(settings, key, QTYPE_SUBSTITUTES[wanted])
                notes.append(f"model.{key} {wanted} (ai-toolkit's own 8-bit backend) is served as "
                             f"{QTYPE_SUBSTITUTES[wanted]}: 8-bit integer weights through optimum-quanto")
        if settings.quantize:
            names = quantize_model(transformer, settings.qtype, include=("transformer_blocks.",))
            notes.append(f"quantized {len(names)} transformer Linear layers to {settings.qtype}")
        text_prefix, text_layers = _text_layers(text_encoder)
        if settings.quantize_te:
            names = quantize_model(text_encoder, settings.qtype_te, include=(text_prefix,))
            notes.append(f"quantized {len(names)} text encoder Linear layers to {settings.qtype_te}")
        if settings.layer_offloading:
            for what, blocks, share in (
                ("transformer", transformer.transformer_blocks, settings.layer_offloading_transformer_percent),
                ("text encoder", text_layers, settings.layer_offloading_text_encoder_percent),
            ):
                report = offload_blocks(blocks, share, settings.device)
                notes.append(report.describe(what))
        return notes

    def _setup_compute(self) -> list[str]:
        """SDPA kernels on CUDA (logged once) and torch.compile of the transformer: the
        module compiles its own call in place, so every caller (training, the pipeline) runs
        the compiled transformer (SOP changes Q, R, AB)."""
        notes = []
        config = self.transformer.config
        line = configure_attention(self.settings.device, self.settings.dtype,
                                   int(config.num_attention_heads), int(config.attention_head_dim))
        if line:
            notes.append(line)
        if self.settings.compile:
            backend = self.settings.compile_backend
            self.transformer.compile(backend=backend, mode=self.settings.compile_mode)
            notes.append(f"transformer compiled (backend {getattr(backend, '__name__', backend)})")
        return notes

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

    @contextmanager
    def _visiting(self, *modules):
        """With low_vram, bring idle components to the device for one piece of work."""
        if not self.settings.low_vram:
            yield
            return
        for module in modules:
            module.to(self.settings.device)
        try:
            yield
        finally:
            for module in modules:
                module.to("cpu")
            if torch.cuda.is_available():
                torch.cuda.empty_cache()

    @property
    def runner(self) -> torch.nn.Module:
        return self.runner_wrapper if self.runner_wrapper is not None else self.transformer

    @runner.setter
    def runner(self, module: torch.nn.Module | None) -> None:
        self.runner_wrapper = module

    @property
    def cross_timestep_routing(self) -> str:
        if self.settings.cross_timestep_routing is not None:
            return self.settings.cross_timestep_routing
        if self.settings.use_cross_timestep is not None:
            return "cross" if self.settings.use_cross_timestep else "own"
        return self.version.cross_timestep_routing

    @property
    def use_cross_timestep(self) -> bool:
        """What diffusers' forward flag must say (conditioning.py enforces it on every call)."""
        return self.cross_timestep_routing != "own"

    @property
    def cache_identity(self) -> str:
        """Disk-cache key part: the version's latent space plus where the weights came from, so
        2.0 and 2.3+ video latents (different VAEs) are never mixed."""
        return f"{self.version.video_latent_space}|{self.source}"

    @property
    def video_encoder_is_causal(self) -> bool:
        """True when latent frame 0 encodes pixel frame 0 alone (what image-to-video needs)."""
        return bool(getattr(self.vae.config, "encoder_causal", True))

    @property
    def audio_mel_bins(self) -> int:
        return int(self.audio_vae.config.mel_bins)

    @property
    def vocoder_sample_rate(self) -> int:
        """24 kHz (2.0) or 48 kHz (2.3+, bandwidth extension): the mp4 keeps this rate."""
        return int(getattr(self.vocoder.config, "output_sampling_rate", SAMPLE_RATE))

    # ------------------------------------------------------------------ text
    @torch.no_grad()
    def encode_text_hidden(self, prompts: list[str]) -> TextHidden:
        """Run the tokenizer and Gemma; no gradients ever reach the text encoder. The run's
        text cache (toolkit/train/batch_builder.py) keeps what must outlive `unload_text_encoder`."""
        if self.text_encoder is None:
            raise RunFailed(
                f"the text encoder was unloaded (train.unload_text_encoder) but prompt {prompts[0]!r} was not "
                "encoded before: every caption and sample prompt must be known when the run starts"
            )
        return self._run_text_encoder(prompts)

    def unload_text_encoder(self) -> None:
        """Drop Gemma from memory (train.unload_text_encoder); prompts kept by the run's text
        cache keep working."""
        self.text_encoder = None
        if torch.cuda.is_available():
            torch.cuda.empty_cache()

    def prompt_tokens(self, prompt: str) -> int:
        """How many tokens `prompt` is, untruncated (special tokens included): more than
        `text_max_length` and the text encoder reads only the first `text_max_length`."""
        return len(self.tokenizer(prompt.strip(), add_special_tokens=True, truncation=False, verbose=False)["input_ids"])

    def tokenize(self, prompts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """Left-padded ids and mask (B, text_max_length). Gemma 4 (2.5) gets a leading BOS
        when its tokenizer adds none (its packed tokenizer has no post-processor)."""
        self.tokenizer.padding_side = "left"
        tokens = self.tokenizer(
            [p.strip() for p in prompts],
            padding="max_length",
            max_length=self.text_max_length,
            truncation=True,
            add_special_tokens=True,
            return_tensors="pt",
        )
        ids, mask = tokens.input_ids, tokens.attention_mask
        bos = getattr(self.tokenizer, "bos_token_id", None)
        if self.version.text_leading_bos and bos is not None:
            ids, mask = _ensure_leading_bos(ids, mask, int(bos))
        return ids, mask

    @torch.no_grad()
    def _run_text_encoder(self, prompts: list[str]) -> TextHidden:
        ids, mask = self.tokenize(prompts)
        device = self.settings.device
        with self._visiting(self.text_encoder):
            out = self.text_encoder(
                input_ids=ids.to(device),
                attention_mask=mask.to(device),
                output_hidden_states=True,
            )
        hidden = torch.stack(out.hidden_states, dim=-1).flatten(2, 3).to(self.settings.dtype)
        return TextHidden(hidden=hidden, mask=mask.to(device))

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
        from diffusers import LTX2Pipeline  # noqa: PLC0415 (heavy (diffusers): loaded when first needed, so --check and start-up stay fast)

        frames = frames.to(self.settings.device, self.vae.dtype)
        with self._visiting(self.vae):
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
        from diffusers import LTX2Pipeline  # noqa: PLC0415 (heavy (diffusers): loaded when first needed, so --check and start-up stay fast)

        mel = log_mel_spectrogram(waveform.float(), n_mels=self.audio_mel_bins)
        mel = mel.to(self.settings.device, self.audio_vae.dtype)
        with self._visiting(self.audio_vae):
            latents = self.audio_vae.encode(mel).latent_dist.mode()  # (B, C_a, L, M')
        packed = LTX2Pipeline._pack_audio_latents(latents)
        packed = LTX2Pipeline._normalize_audio_latents(
            packed, self.audio_vae.latents_mean, self.audio_vae.latents_std
        )
        return packed.float()

    def placeholder_video_latent(self) -> torch.Tensor:
        """The video of an audio-only item: one latent token (C, 1, 1, 1) of zeros. The joint
        transformer needs a video stream (its audio attends to the video through the a2v
        cross-attention); one token is the least it can run with. The trainer holds it at
        sigma 1 (pure noise: "the picture is unknown") and scores nothing on it, so the audio
        learns as it would beside a video that is not known yet (docs/datasets.md)."""
        return torch.zeros(int(self.transformer.config.in_channels), 1, 1, 1)

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
        video_clean_frames: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One joint forward pass.

        noisy_video: (B, C, F', H', W'); noisy_audio: (B, L, Ca); sigma_*: (B,) in [0, 1],
        one per sample and per modality. video_clean_frames: optional (B, F') bool, True on
        latent frames that are a clean condition (image-to-video's first frame): their tokens
        get timestep 0, so the video timestep becomes per token (B, F'*H'*W'), as in diffusers'
        LTX2ImageToVideoPipeline. Returns (video velocity (B, C, F', H', W'), audio velocity
        (B, L, Ca)) in float32.
        """
        from diffusers import LTX2Pipeline  # noqa: PLC0415 (heavy (diffusers): loaded when first needed, so --check and start-up stay fast)

        batch, _, frames, height, width = noisy_video.shape
        dtype = self.settings.dtype
        device = self.settings.device
        hidden = LTX2Pipeline._pack_latents(noisy_video).contiguous().to(device, dtype)
        audio_hidden = noisy_audio.contiguous().to(device, dtype)
        t_video = (sigma_video * 1000.0).to(device, torch.float32)
        t_audio = (sigma_audio * 1000.0).to(device, torch.float32)
        timestep = t_video
        if video_clean_frames is not None:
            # Tokens are packed frame-major (F', H', W') with patch size 1.
            noisy_frames = (~video_clean_frames.to(device, torch.bool)).to(torch.float32)
            per_token = noisy_frames[:, :, None].expand(batch, frames, height * width).reshape(batch, -1)
            timestep = t_video[:, None] * per_token
        video_pred, audio_pred = self.runner(
            hidden_states=hidden,
            audio_hidden_states=audio_hidden,
            encoder_hidden_states=prompt.video.to(device, dtype),
            audio_encoder_hidden_states=prompt.audio.to(device, dtype),
            timestep=timestep,
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
    def pipeline(self, image_to_video: bool = False):
        """An LTX2Pipeline (or LTX2ImageToVideoPipeline) over the loaded components; the
        network stays applied."""
        from diffusers import LTX2ImageToVideoPipeline, LTX2Pipeline  # noqa: PLC0415 (heavy (diffusers): loaded when first needed, so --check and start-up stay fast)

        klass = LTX2ImageToVideoPipeline if image_to_video else LTX2Pipeline
        return klass(
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
        image: str | None = None,
        audio_guidance_scale: float | None = None,
        stg_scale: float = 0.0,
        audio_stg_scale: float | None = None,
        encode_text: Callable[[str], TextHidden] | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, int]:
        """Generate one clip. Returns (frames uint8 (F, H, W, 3), audio (2, N) float, sample_rate).

        With `image` (a file path) the clip starts from that image (image-to-video pipeline).
        `stg_scale` > 0 adds spatio-temporal guidance at the version's STG blocks (stg.py).
        `encode_text`: where a prompt's Gemma output comes from (the run's text cache, which
        outlives an unloaded text encoder); by default Gemma runs now."""
        pipe = self.pipeline(image_to_video=image is not None)
        pipe.set_progress_bar_config(disable=True)
        generator = torch.Generator(device="cpu").manual_seed(seed)
        extra = {}
        if image is not None:
            with Image.open(Path(image).expanduser()) as handle:
                extra["image"] = handle.convert("RGB")
        # Prompts are encoded here, so their masks are bool where they are made (SOP change
        # AH): the pipeline's connectors and the transformer then derive every additive mask
        # in the compute dtype themselves.
        encode_text = encode_text or (lambda p: self.encode_text_hidden([p]))
        text, negative = encode_text(prompt), encode_text(negative_prompt or "")
        audio_stg = stg_scale if audio_stg_scale is None else audio_stg_scale
        blocks = stg_blocks(self.version.stg_blocks, transformer_depth(self.transformer))
        use_stg = stg_scale > 0 or audio_stg > 0
        was_training = self.transformer.training
        # Sampling is inference: no rank or module dropout. Trained connectors
        # (train_text_encoder) carry LoRA layers too, in training mode since peft added them;
        # each layer's own mode is restored after, so training keeps its dropout.
        connector_modes = {module: module.training for module in self.connectors.modules()}
        self.transformer.eval()
        self.connectors.eval()
        try:
            with self._visiting(self.vae, self.audio_vae, self.vocoder), \
                    perturbable(self.transformer, blocks if use_stg else []):
                out = pipe(
                    **extra,
                    prompt_embeds=text.hidden,
                    prompt_attention_mask=text.mask.bool(),
                    negative_prompt_embeds=negative.hidden,
                    negative_prompt_attention_mask=negative.mask.bool(),
                    width=width,
                    height=height,
                    num_frames=num_frames,
                    frame_rate=fps,
                    num_inference_steps=steps,
                    guidance_scale=guidance_scale,
                    audio_guidance_scale=guidance_scale if audio_guidance_scale is None else audio_guidance_scale,
                    stg_scale=stg_scale,
                    audio_stg_scale=audio_stg,
                    spatio_temporal_guidance_blocks=blocks if use_stg else None,
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
            for module, mode in connector_modes.items():
                module.training = mode
        frames = torch.from_numpy((out.frames[0] * 255.0).round().clip(0, 255).astype("uint8"))
        audio = out.audio[0].float().cpu()
        return frames, audio, self.vocoder_sample_rate


def _text_layers(text_encoder) -> tuple[str, torch.nn.ModuleList]:
    """(name prefix, layers) of Gemma's language layers: `model.language_model.layers` in the
    full class a diffusers folder holds, `layers` in the text-only model that LTX-2.5's
    text-encoder file gives (toolkit.model_files)."""
    inner = getattr(getattr(text_encoder, "model", None), "language_model", None)
    if inner is not None:
        return "model.language_model.layers.", inner.layers
    return "layers.", text_encoder.layers


def _ensure_leading_bos(ids: torch.Tensor, mask: torch.Tensor, bos: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Left-padded rows whose first real token is not BOS get one (dropping their last token
    when the row is full, as truncation would)."""
    ids, mask = ids.clone(), mask.clone()
    length = ids.shape[1]
    for row in range(ids.shape[0]):
        real = int(mask[row].sum())
        start = length - real
        if real and int(ids[row, start]) == bos:
            continue
        if real == length:
            ids[row] = torch.cat([ids.new_tensor([bos]), ids[row, :-1]])
        else:
            ids[row, start - 1] = bos
            mask[row, start - 1] = 1
    return ids, mask
