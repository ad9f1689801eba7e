"""The LTX-2 adapter: the only place in the trainer that knows LTX-2.

It loads the components of one LTX-2 version (loading.py; what differs between 2.0, 2.3 and
2.5 is the table in versions.py), freezes what is frozen,
encodes prompts / video / audio into what the transformer consumes, runs the transformer
with a separate timestep per modality, and samples mp4 files with sound.

It receives every setting it needs as arguments (`LTX2Settings`); it never reads trainer
config objects (SOP root cause #18 was model code reaching for `self.train_config`).

Where each component is, is decided here and nowhere else: a run loads the model `phased`
(nothing heavy at first) and `enter_phase` loads, moves and frees components as phases.py's
table says, each read straight to where it rests (extensions_built_in/diffusion_models/ltx2/weights/stream.py: quantized and
placed block by block). `LTX2Model.load` without `phased` loads everything at once (tools and
tests), placed as `model.low_vram` says.

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
from typing import Any

import torch
from diffusers import LTX2Pipeline

from extensions_built_in.diffusion_models.ltx2 import generate as sampling
from extensions_built_in.diffusion_models.ltx2.audio_features import SAMPLE_RATE, log_mel_spectrogram
from extensions_built_in.diffusion_models.ltx2.component_placement import (
    configure_vae_tiling,
    text_encoder_units,
    transformer_units,
    video_encode_variant,
)
from extensions_built_in.diffusion_models.ltx2.conditioning import install_conditioning
from extensions_built_in.diffusion_models.ltx2.family import FAMILY
from extensions_built_in.diffusion_models.ltx2.loading import ComponentSource, ModelSources
from extensions_built_in.diffusion_models.ltx2.lora_format.lora_read import from_comfy_state_dict
from extensions_built_in.diffusion_models.ltx2.phases import (
    COMPONENTS,
    DEVICE,
    HOST,
    PhasePlan,
    PhaseRecord,
    needed_after,
    phase_components,
)
from extensions_built_in.diffusion_models.ltx2.prompt_embeds import PromptEmbeds
from extensions_built_in.diffusion_models.ltx2.versions import DEFAULT_ARCH, VERSIONS, LTX2Version
from toolkit.configuration.defaults import config_field
from toolkit.errors import RunFailed
from toolkit.family.interface import LoraKeyNamer
from toolkit.memory.attention import configure_attention
from toolkit.memory.checkpoint_offload import OffloadedCheckpoint
from toolkit.memory.ff_chunks import chunk_feed_forwards
from toolkit.memory.host_device import host_device

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
    # lever (e), resolved by toolkit/memory/levers.py (the config's null means "the plan decides")
    layer_offloading: bool = False
    layer_offloading_transformer_percent: float = config_field("model.layer_offloading_transformer_percent")
    layer_offloading_text_encoder_percent: float = config_field("model.layer_offloading_text_encoder_percent")
    compile: bool = config_field("model.compile")
    compile_backend: Any = config_field("model.model_kwargs.compile_backend")  # a backend name or callable
    compile_mode: str | None = config_field("model.model_kwargs.compile_mode")
    # model.low_vram (a model loaded whole, not phased): VAEs, vocoder and text encoder rest
    # on the CPU and visit the device only while they work; the transformer and connectors stay.
    low_vram: bool = config_field("model.low_vram")
    # Phases (phases.py), resolved at start-up (toolkit/memory/placement.py):
    # where Gemma computes while captions are encoded: "device", "offload" (its layers rest on
    # the host and stream to the device: layer_offloading_text_encoder_percent of them) or "cpu"
    text_encoder_placement: str = "device"
    vae_tiling: bool = False  # encode clips in overlapping tiles (diffusers' VAE tiling): their latents differ
    vae_decode_tiling: bool = False  # decode samples in overlapping tiles
    vae_tile: tuple[int, int, int, int] = (512, 448, 16, 8)  # pixels, pixel stride, frames, frame stride
    sampling: bool = True  # the run samples: the decoders stay loaded (on the host) between samplings
    train_video_tokens: int | None = None  # the largest training item's video tokens (sampling's guidance rule)
    # per-step memory levers (b) and (c), resolved by toolkit/memory/levers.py
    offload_checkpoints: bool = False
    ff_chunk_tokens: int = 0


# The names of the LoRA file's keys (the family's light half) and how a file is read back.
KEY_NAMER = LoraKeyNamer(file_keys=FAMILY.lora_file_keys, from_file=from_comfy_state_dict)

@dataclass
class TextHidden:
    """Stacked Gemma hidden states before the connectors (what a text cache stores).

    hidden: (B, T, H * (layers + 1)), mask: (B, T) int64 (1 = token).
    """

    hidden: torch.Tensor
    mask: torch.Tensor

    def compact(self) -> TextHidden:
        """One prompt's real tokens alone, on the host (what a text cache keeps). Prompts are
        left-padded, and the connectors zero every padded position before they read it, so
        `expand` gives them exactly what Gemma gave (at real size most of a prompt's 385 MB is
        padding). A mask that is not one run of real tokens at the end is kept whole."""
        real = int(self.mask.sum())
        length = self.mask.shape[1]
        if self.mask.shape[0] != 1 or not real or not bool(self.mask[0, length - real:].all()):
            return TextHidden(self.hidden.cpu(), self.mask.cpu())
        # .clone(): a slice would keep the whole padded tensor alive
        return TextHidden(self.hidden[:, length - real:].cpu().clone(), self.mask[:, length - real:].cpu().clone())

    def expand(self, length: int, device) -> TextHidden:
        """Left-padded to `length` again (zeros where the padding was), on `device`."""
        real = self.hidden.shape[1]
        if real == length:
            return TextHidden(self.hidden.to(device), self.mask.to(device))
        hidden = torch.zeros(1, length, self.hidden.shape[2], dtype=self.hidden.dtype, device=device)
        hidden[:, length - real:] = self.hidden.to(device)
        mask = torch.zeros(1, length, dtype=self.mask.dtype, device=device)
        mask[:, length - real:] = self.mask.to(device)
        return TextHidden(hidden, mask)


class LTX2Model:
    """LTX-2 components plus the operations training and sampling need.

    A component not loaded (yet, or any more) is None; `enter_phase` loads what a phase uses."""

    # The names of the LoRA file's keys, handed to the network (toolkit/lora/network.py)
    lora_key_namer = KEY_NAMER

    def __init__(self, source, settings: LTX2Settings, phased: bool):
        self.settings = settings
        self.version = settings.version
        self.phased = phased
        self._source = source  # loading.ComponentSource: what is still to be read
        self.source = source.source
        self.configs = dict(source.configs)  # every component's config, read before its weights
        self.tokenizer = source.small["tokenizer"]
        self.scheduler = source.small["scheduler"]
        self.transformer = self.connectors = self.vae = self.audio_vae = self.vocoder = self.text_encoder = None
        # The connectors' learnable registers (128 in 2.3+) need a length divisible by 128;
        # the reference pads every prompt to 1024.
        longest = min(1024, int(getattr(self.tokenizer, "model_max_length", 1024)))
        self.text_max_length = -(-longest // 128) * 128
        self.memory_notes: list[str] = self._resolve_qtypes()
        # What training forwards call: the transformer, or its DistributedDataParallel wrapper
        # under data parallel (toolkit/processes/parallel.py); `self.transformer` stays the real module.
        self.runner_wrapper: torch.nn.Module | None = None
        self.conditioning = None
        self.phase: str | None = None
        self.residency: list[PhaseRecord] = []  # what each phase held (phases.py)
        self._where: dict[str, str] = {}  # loaded component -> DEVICE or HOST
        self._freed: dict[str, str] = {}  # component -> the phase it was freed on entering

    # ------------------------------------------------------------------ loading
    @classmethod
    def load(cls, name_or_path: str, settings: LTX2Settings, phased: bool = False) -> LTX2Model:
        """The components of `settings.version` (loading.ComponentSource: a diffusers folder or
        hub id, weight files, plus te_name_or_path / extras_name_or_path), every place checked
        first. `phased`: read nothing heavy now, each component when a phase needs it
        (`enter_phase`); otherwise read everything now, placed as `low_vram` says."""
        sources = ModelSources(name_or_path, settings.te_name_or_path, settings.extras_name_or_path,
                               dict(settings.file_paths))
        model = cls(ComponentSource(settings.version, sources, settings.dtype), settings, phased)
        if not phased:
            resting = ("transformer", "connectors") if settings.low_vram else COMPONENTS
            for name in COMPONENTS:
                model._load(name, DEVICE if name in resting else HOST)
        return model

    def _resolve_qtypes(self) -> list[str]:
        """ai-toolkit qtypes this trainer has no backend for are served by their substitute."""
        notes = []
        for key, on in (("qtype", self.settings.quantize), ("qtype_te", self.settings.quantize_te)):
            wanted = getattr(self.settings, key)
            if wanted in QTYPE_SUBSTITUTES and on:
                setattr(self.settings, key, QTYPE_SUBSTITUTES[wanted])
                notes.append(f"model.{key} {wanted} (ai-toolkit's own 8-bit backend) is served as "
                             f"{QTYPE_SUBSTITUTES[wanted]}: 8-bit integer weights through optimum-quanto")
        return notes

    @property
    def phase_plan(self) -> PhasePlan:
        s = self.settings
        return PhasePlan(train_text_encoder=s.train_text_encoder, text_encoder_on_host=s.text_encoder_placement == "cpu",
                         sampling=s.sampling)

    def enter_phase(self, phase: str) -> list[str]:
        """Hold what `phase` uses where it computes, rest what a later phase needs on the host,
        free the rest (phases.py). Returns the notes of what loading did (quantized, offloaded)."""
        plan = self.phase_plan
        uses = phase_components(phase, plan)
        keep = needed_after(phase, plan) | set(uses)
        notes_before = len(self.memory_notes)
        freed = []
        for name in COMPONENTS:  # first what leaves, so the device never holds both
            if getattr(self, name) is not None and name not in keep:
                self._free(name, phase)
                freed.append(name)
            elif getattr(self, name) is not None and name not in uses and self._where[name] == DEVICE:
                self._move(name, HOST)
        for name, where in uses.items():
            if getattr(self, name) is None:
                self._load(name, where)
            elif self._where[name] != where:
                self._move(name, where)
        self._empty_cache()
        self.phase = phase
        loaded = [name for name in COMPONENTS if getattr(self, name) is not None]
        self.residency.append(PhaseRecord(
            phase, on_device=tuple(n for n in loaded if self._where[n] == DEVICE),
            on_host=tuple(n for n in loaded if self._where[n] == HOST), freed=tuple(freed)))
        return self.memory_notes[notes_before:]

    def component_params(self, name: str) -> int:
        """Parameters of a component, loaded or not (start-up rules size it before it loads)."""
        module = getattr(self, name)
        return sum(p.numel() for p in module.parameters()) if module is not None else self._source.params(name)

    def _device_for(self, where: str) -> torch.device:
        return self.settings.device if where == DEVICE else host_device()

    def _move(self, name: str, where: str) -> None:
        getattr(self, name).to(self._device_for(where))
        self._where[name] = where

    def _free(self, name: str, phase: str) -> None:
        setattr(self, name, None)
        self._where.pop(name, None)
        self._freed[name] = phase

    def _missing(self, name: str, what: str) -> RunFailed:
        if name in self._freed:
            return RunFailed(f"the {what} was freed when the run's {self._freed[name]} phase began "
                             "(docs/memory.md, Phases): it is not loaded again")
        return RunFailed(f"the {what} is not loaded: a phase that uses it comes first (docs/memory.md, Phases)")

    def _empty_cache(self) -> None:
        if self.settings.device.type == "cuda":
            torch.cuda.empty_cache()

    def _load(self, name: str, where: str) -> None:
        """Read `name` straight to where it rests: block by block for the transformer and the
        text encoder (quantized as each block arrives, placed on the device or left on the host
        for layer offloading), whole for the others."""
        if name in self._freed:
            raise self._missing(name, name.replace("_", " "))
        device = self._device_for(where)
        units, finish = (), (lambda unit, module: module.to(device))
        if name == "transformer":
            units, finish = transformer_units(self.settings, self.configs["transformer"], device, self.memory_notes)
        elif name == "text_encoder":
            units, finish = text_encoder_units(self.settings, self.configs["text_encoder"], device, self.phased,
                                               self.memory_notes)
        module = self._source.open(name, units, finish)
        setattr(self, name, module)
        self._where[name] = where
        module.requires_grad_(False)  # the network adds the only trainable parameters
        module.eval()
        if name == "transformer":
            self._setup_transformer()

    def _setup_transformer(self) -> None:
        """Gradient checkpointing, the conditioning hooks, SDPA kernels on CUDA (logged once) and
        torch.compile: the module compiles its own call in place, so every caller (training,
        the pipeline) runs the compiled transformer (SOP changes Q, R, AB)."""
        if self.settings.gradient_checkpointing:
            # lever (b): the blocks' stream inputs wait for backward in host memory
            stash = OffloadedCheckpoint(self.settings.device) if self.settings.offload_checkpoints else None
            self.transformer.enable_gradient_checkpointing(stash)
        chunked = chunk_feed_forwards(self.transformer.transformer_blocks, self.settings.ff_chunk_tokens)
        if chunked:  # lever (c)
            self.memory_notes.append(f"feed-forward in chunks of {self.settings.ff_chunk_tokens} tokens "
                                     f"({chunked} layers, each chunk recomputed in backward)")
        if self.settings.offload_checkpoints and self.settings.gradient_checkpointing:
            self.memory_notes.append("checkpointed block inputs rest in host memory until backward")
        self.conditioning = install_conditioning(self.transformer, self.cross_timestep_routing,
                                                 self.version.keyframe_first_frame)
        config = self.transformer.config
        line = configure_attention(self.settings.device, self.settings.dtype,
                                   int(config.num_attention_heads), int(config.attention_head_dim))
        if line:
            self.memory_notes.append(line)
        if self.settings.compile:
            backend = self.settings.compile_backend
            self.transformer.compile(backend=backend, mode=self.settings.compile_mode)
            self.memory_notes.append(f"transformer compiled (backend {getattr(backend, '__name__', backend)})")

    def video_encode_variant(self, longest_side: int, frames: int) -> str | None:
        """What cached latents of clips up to this size depend on besides the weights (the
        tiles, when tiled encoding engages for them); None for latents of whole clips."""
        return video_encode_variant(self.settings, longest_side, frames)

    @contextmanager
    def visiting(self, *modules):
        """A model loaded whole with low_vram: bring idle components to the device for one
        piece of work (a phased model has them where the phase needs them)."""
        if not self.settings.low_vram or self.phased:
            yield
            return
        for module in modules:
            module.to(self.settings.device)
        try:
            yield
        finally:
            for module in modules:
                module.to("cpu")
            self._empty_cache()

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
        return bool(self.configs["vae"].get("encoder_causal", True))

    @property
    def audio_mel_bins(self) -> int:
        return int(self.configs["audio_vae"]["mel_bins"])

    @property
    def vocoder_sample_rate(self) -> int:
        """24 kHz (2.0) or 48 kHz (2.3+, bandwidth extension): the mp4 keeps this rate."""
        return int(self.configs["vocoder"].get("output_sampling_rate", SAMPLE_RATE))

    # ------------------------------------------------------------------ text
    @torch.no_grad()
    def encode_text_hidden(self, prompts: list[str]) -> TextHidden:
        """Run the tokenizer and Gemma; no gradients ever reach the text encoder. The run's
        text cache (toolkit/train/batch_builder.py) keeps every prompt: Gemma leaves with its phase."""
        if self.text_encoder is None:
            raise RunFailed(
                f"prompt {prompts[0]!r} was not encoded while the text encoder was loaded: every caption and "
                f"sample prompt is encoded before training ({self._missing('text_encoder', 'text encoder')})")
        return self._run_text_encoder(prompts)

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
        device = self._device_for(self._where.get("text_encoder", DEVICE))  # placed "cpu": it computes there
        with self.visiting(self.text_encoder):
            out = self.text_encoder(
                input_ids=ids.to(device),
                attention_mask=mask.to(device),
                output_hidden_states=True,
            )
        hidden = torch.stack(out.hidden_states, dim=-1).flatten(2, 3).to(self.settings.dtype)
        return TextHidden(hidden=hidden, mask=mask.to(device))

    def run_connectors(self, text: TextHidden) -> PromptEmbeds:
        """Connectors: with gradients only when the text side is trained (SOP F)."""
        if self.connectors is None:
            raise self._missing("connectors", "text connectors")
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
        if self.vae is None:
            raise self._missing("vae", "video VAE")
        frames = frames.to(self.settings.device, self.vae.dtype)
        configure_vae_tiling(self.vae, self.settings.vae_tiling, self.settings.vae_tile)
        with self.visiting(self.vae):
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
        if self.audio_vae is None:
            raise self._missing("audio_vae", "audio VAE")
        mel = log_mel_spectrogram(waveform.float(), n_mels=self.audio_mel_bins)
        mel = mel.to(self.settings.device, self.audio_vae.dtype)
        with self.visiting(self.audio_vae):
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
        # the config, not the module: clips are encoded before the transformer loads (phases.py)
        return torch.zeros(int(self.configs["transformer"]["in_channels"]), 1, 1, 1)

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
        encode_text: Callable[[str], TextHidden | PromptEmbeds] | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, int]:
        """Generate one clip with the network as it is now. Returns (frames uint8 (F, H, W, 3),
        audio (2, N) float, sample_rate).

        With `image` (a file path) the clip starts from that image (image-to-video pipeline).
        `stg_scale` > 0 adds spatio-temporal guidance at the version's STG blocks (stg.py).
        `encode_text`: where a prompt comes from (the run's text cache): the frozen
        connectors' output (PromptEmbeds: no text side runs) or Gemma's (TextHidden: the
        connectors run); by default Gemma runs now (generate.py)."""
        if self.transformer is None or self.vae is None or self.audio_vae is None or self.vocoder is None:
            missing = next(n for n in ("transformer", "vae", "audio_vae", "vocoder") if getattr(self, n) is None)
            raise self._missing(missing, missing.replace("_", " "))
        return sampling.generate(self, prompt, negative_prompt, width, height, num_frames, fps, steps,
                                 guidance_scale, seed, image=image, audio_guidance_scale=audio_guidance_scale,
                                 stg_scale=stg_scale, audio_stg_scale=audio_stg_scale, encode_text=encode_text)


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
