"""The config schema: one strict pydantic model per section of an ai-toolkit style file.

    job: extension
    config:
      name: my_character
      process:
        - type: sd_trainer        # or diffusion_trainer (the same trainer)
          network: {...}  train: {...}  model: {...}  datasets: [...]
          save: {...}  sample: {...}  logging: {...}
    meta: {...}                   # free-form

Every field declares its default, bounds and a one-line description: this one schema
feeds the CLI's errors, docs/config.md and the web UI. Unknown keys are errors
(``extra="forbid"``); keys of upstream ai-toolkit that this trainer deliberately ignores
are listed per section in ``ignored_upstream_keys`` and dropped by the loader with a
warning. Values that depend on other values ("automatic" settings) are resolved here,
so downstream code only ever sees plain booleans.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationInfo,
    field_validator,
    model_validator,
)

from toolkit.configuration.automatic import alpha_for, do_audio_for, spread_for
from toolkit.configuration.fields import (
    auto_is_unset,
    check_frames,
    check_multiple_of_32,
    check_sample_steps,
    field,
    lower_str,
    model_field,
    normalise_dtype,
    refuse_bool_number,
    sanitize_name,
    show_value,
)
from toolkit.configuration.model_defaults import apply_arch_defaults
from toolkit.configuration.overlaps import duplicate_dataset_error
from toolkit.configuration.upstream import UPSTREAM_KEYS, UpstreamKey
from toolkit.family.registry import family_for_arch
from toolkit.memory.levers import lever_config_problems
from toolkit.memory.qtypes import QTYPE_NAMES, qtype_error

Frames = Annotated[int, Field(ge=1, le=1025), AfterValidator(check_frames)]
Pixels = Annotated[int, Field(ge=32, le=4096), AfterValidator(check_multiple_of_32)]
SampleSteps = Annotated[int, Field(ge=2, le=1000), BeforeValidator(check_sample_steps)]  # 1 step: NaN
DType = Literal["bf16", "fp16", "fp32"]
QType = Literal[QTYPE_NAMES]  # type: ignore[valid-type]
Fraction = Annotated[float, Field(ge=0.0, lt=1.0)]

NAME_OR_PATH_HELP = (
    "A diffusers-format folder or hub id (Lightricks/LTX-2), an original .safetensors file (local, or "
    "org/repo/file.safetensors from the Hugging Face cache), or for LTX-2.5 a ComfyUI models folder with "
    "the split files (or Lightricks/LTX-2.5)")
Arch = Literal["ltx2", "ltx2.3", "ltx2.5"]


class Section(BaseModel):
    """Base of every section: strict keys, aliases accepted, numbers accepted as strings."""

    # allow_inf_nan=False: `lr: .nan` (YAML's NaN) is "must be a finite number", not a bound it fails
    model_config = ConfigDict(
        extra="forbid", populate_by_name=True, coerce_numbers_to_str=True, protected_namespaces=(),
        allow_inf_nan=False,
    )

    # Keys of upstream ai-toolkit that we accept and ignore (toolkit.configuration.upstream).
    ignored_upstream_keys: ClassVar[dict[str, UpstreamKey]] = {}

    @field_validator("*", mode="before")
    @classmethod
    def _no_bool_numbers(cls, value: Any, info: ValidationInfo) -> Any:
        return refuse_bool_number(value, cls.model_fields[info.field_name].annotation)


def _one_of_aliases(data: Any, section: str, names: tuple[str, str]) -> Any:
    """Reject a section that gives both spellings of one key with different values."""
    if isinstance(data, dict) and all(n in data for n in names):
        a, b = (data[n] for n in names)
        if a != b:
            raise ValueError(
                f"{section}.{names[0]} ({show_value(a)}) and its alias {names[1]} "
                f"({show_value(b)}) disagree: give only one of them"
            )
        data = {k: v for k, v in data.items() if k != names[1]}
    return data


class NetworkKwargs(Section):
    """Which transformer modules get adapters (substring match on module names)."""

    only_if_contains: list[str] = field(
        [], description="Only modules whose name contains one of these strings get an adapter")
    ignore_if_contains: list[str] = field(
        [], description="Modules whose name contains one of these strings get no adapter")


class NetworkConfig(Section):
    """The trained adapter: LoRA, DoRA or LoKr."""

    ignored_upstream_keys: ClassVar[dict[str, UpstreamKey]] = UPSTREAM_KEYS["network"]

    type: Literal["lora", "dora", "lokr"] = field(
        "lora", description="Adapter kind: lora, dora (weight-decomposed) or lokr (Kronecker)")
    linear: int = model_field(
        "network.linear", name="linear", aliases=["rank"], ge=1, le=1024,
        description="Adapter rank")
    linear_alpha: float = model_field(
        "network.linear_alpha", name="linear_alpha", aliases=["alpha"], gt=0, le=4096,
        description="Adapter alpha; the update is scaled by alpha/rank. Absent = the rank "
        "(scale 1.0, whatever the rank)")
    dropout: Fraction = field(0.0, description="Dropout on the adapter's input features")
    rank_dropout: Fraction = model_field(
        "network.rank_dropout", description="Probability of zeroing each rank dimension in training")
    module_dropout: Fraction = field(
        0.0, description="Probability of skipping a whole adapter module in a training step")
    lokr_factor: int = field(
        -1, ge=-1, le=1024, description="LoKr Kronecker factor; -1 picks the largest that fits")
    network_kwargs: NetworkKwargs = field(
        NetworkKwargs, description="Module filters: only_if_contains / ignore_if_contains")
    pretrained_lora_path: str | None = field(
        None, description="Start from this LoRA file (.safetensors) instead of a fresh adapter")
    train_audio_modules: bool | None = field(
        None, description="Train the audio-only modules too; None = automatic: audio modules "
        "are trained only when some dataset has audio")
    audio_linear: int | None = field(
        None, ge=1, le=1024, description="Rank of the audio-side modules (audio attention and feed-forward, "
        "audio<->video cross-attention; lora and dora); None = network.linear. The file keeps each module's own "
        "rank, which ComfyUI and diffusers read from the weights")
    audio_linear_alpha: float | None = field(
        None, gt=0, le=4096, description="Alpha of the audio-side modules; None = the same alpha/rank scale as "
        "the other modules")

    @field_validator("type", mode="before")
    @classmethod
    def _lower(cls, v: Any) -> Any:
        return lower_str(v)

    @model_validator(mode="before")
    @classmethod
    def _aliases(cls, data: Any) -> Any:
        data = _one_of_aliases(data, "network", ("linear", "rank"))
        return _one_of_aliases(data, "network", ("linear_alpha", "alpha"))

    @model_validator(mode="after")
    def _alpha_is_rank(self) -> NetworkConfig:
        if "linear_alpha" not in self.model_fields_set:
            # a fixed default alpha would rescale other ranks
            self.linear_alpha = alpha_for(self.linear)
        return self

    @model_validator(mode="after")
    def _audio_rank(self) -> NetworkConfig:
        if self.audio_linear is None and self.audio_linear_alpha is not None:
            raise ValueError("audio_linear_alpha is set without audio_linear: give the audio modules' rank too")
        if self.audio_linear is not None and self.type == "lokr":
            raise ValueError("audio_linear applies to lora and dora; LoKr has no rank per module here (leave it unset)")
        if self.audio_linear is not None and self.audio_linear_alpha is None:
            self.audio_linear_alpha = self.linear_alpha / self.linear * self.audio_linear
        return self

    @field_validator("lokr_factor")
    @classmethod
    def _lokr_factor(cls, v: int) -> int:
        if v == 0:
            raise ValueError("(0) must be -1 (automatic) or a factor >= 1")
        return v


class TrainConfig(Section):
    """The optimisation loop, the loss and the audio (voice) settings."""

    ignored_upstream_keys: ClassVar[dict[str, UpstreamKey]] = UPSTREAM_KEYS["train"]

    steps: int = field(2000, ge=1, le=10_000_000, description="Number of optimizer steps")
    batch_size: int = field(1, ge=1, le=256, description="Clips per batch")
    gradient_accumulation: int = field(
        1, name="gradient_accumulation", aliases=["gradient_accumulation_steps"], ge=1, le=1024,
        description="Batches whose gradients are summed before one optimizer step")
    lr: float = model_field("train.lr", gt=0, le=10, description="Learning rate")
    audio_lr: float | None = field(
        None, gt=0, le=10, description="Learning rate of the audio-side modules (their own optimizer parameter "
        "group, saved and resumed); None = lr, one group as in ai-toolkit")
    optimizer: Literal["adamw", "adamw8bit", "prodigy", "dadaptation", "adafactor"] = field(
        "adamw", description="Optimizer (case-insensitive); prodigy/dadaptation pick the LR "
        "themselves (use lr: 1.0); adamw8bit needs bitsandbytes (CUDA)")
    optimizer_params: dict[str, Any] = field(
        {}, description="Extra keyword arguments for the optimizer (e.g. weight_decay)")
    lr_scheduler: Literal[
        "constant", "constant_with_warmup", "cosine", "cosine_with_restarts", "linear"
    ] = field("constant", description="Learning-rate schedule over the run")
    lr_warmup_steps: int = field(
        0, ge=0, le=10_000_000, description="Steps of linear warm-up from 0 to lr")
    lr_scheduler_params: dict[str, Any] = field(
        {}, description="Schedule settings: eta_min (cosine, cosine_with_restarts), num_cycles "
        "(cosine_with_restarts), end_factor (linear)")
    noise_scheduler: Literal["flowmatch"] = field(
        "flowmatch", description="Noise schedule; LTX-2 is trained with flow matching only")
    timestep_type: Literal["weighted", "sigmoid", "linear", "shift", "logit_normal"] = field(
        "weighted", description="How training timesteps are drawn")
    content_or_style: Literal["balanced", "content", "style"] = field(
        "balanced", description="Bias timesteps to high noise (content), low noise (style) or neither")
    dtype: DType = field(
        "bf16", description="Compute dtype of the frozen model (aliases bfloat16/float16/float32)")
    gradient_checkpointing: bool = field(
        True, description="Recompute activations in backward: 30-50% less VRAM, a bit slower")
    max_grad_norm: float = field(
        1.0, ge=0, le=1e6, description="Clip the gradient norm to this; 0 disables clipping")
    # Per-step memory levers (docs/memory.md, "Memory levers"). Unset (null) or `auto`: chosen
    # at start-up by toolkit/memory/levers.py.
    lora_precision: Literal["auto", "float32", "compute"] = field(
        "auto", description="LoRA/DoRA math: float32 (peft's way: a float32 copy of every adapted layer's input) "
        "or compute (in train.dtype, no copies; adapter weights, gradients and optimizer state stay float32); "
        "auto: compute for bf16")
    lora_cast_before_add: bool | None = field(
        None, description="Cast the adapter output to train.dtype before adding it to the frozen layer's output "
        "(ai-toolkit's order; saves a gradient copy per layer); unset: on for bf16/fp16. Implied by "
        "lora_precision: compute")
    offload_checkpoints: bool | None = field(
        None, description="Keep each checkpointed block's inputs in pinned host memory (asynchronous copies) and "
        "fetch them back for the backward pass; needs gradient_checkpointing; unset: on with layer_offloading "
        "or low_vram on a GPU")
    ff_chunk_tokens: int | None = field(
        None, ge=0, le=10_000_000, description="Run each feed-forward layer over this many tokens at a time, "
        "recomputing each chunk in backward, so its 4x-wide hidden layer never exists for the whole clip; 0 = "
        "off; unset: 4096 with layer_offloading or low_vram on a GPU, else off")
    optimizer_offload: bool | None = field(
        None, description="Keep the optimizer state (and a float32 master copy of the adapters) in host memory "
        "and step there (any optimizer but adamw8bit; same result, exact resume); unset: on with layer_offloading or low_vram "
        "on a GPU")
    loss_type: Literal["mse", "mae", "pseudo_huber"] = field(
        "mse", description="Per-element loss of the prediction against the flow target")
    noise_offset: float = model_field(
        "train.noise_offset", ge=0, le=1, description="Per-channel noise offset (dynamic range)")
    dynamic_noise_offset: bool = field(
        False, description="Correct the channel mean of the noise (works on video latents)")
    min_snr_gamma: float = model_field(
        "train.min_snr_gamma", ge=0, le=100,
        description="Min-SNR loss weighting; 0 disables (flow matching has no SNR: keep 0)")
    train_text_encoder: bool = field(
        False, description="Also train the text connectors (more VRAM)")
    cache_text_embeddings: bool = field(
        False, description="Accepted for ai-toolkit configs: every run now encodes all captions once, before "
        "training, and reuses the embeddings")
    unload_text_encoder: bool = field(
        False, description="Accepted for ai-toolkit configs: every run now encodes every caption and sample prompt "
        "up front and frees the text encoder before anything else loads (docs/memory.md, Phases)")
    diff_output_preservation: bool = field(
        False, description="Differential output preservation: with the trigger word replaced by the "
        "class word, keep the base model's video and audio output (needs trigger_word)")
    diff_output_preservation_multiplier: float = field(
        1.0, ge=0, le=100, description="Weight of the preservation loss")
    diff_output_preservation_class: str = field(
        "person", description="Class word that replaces the trigger word for preservation")
    skip_first_sample: bool = field(False, description="Do not sample before the first step")
    disable_sampling: bool = field(False, description="Never sample during training")
    seed: int = field(
        42, ge=0, le=2**32 - 1, description="Seed of every draw the run makes (clip windows, data order, noise, "
        "timesteps, dropout): the same config and data train the same LoRA on the same machine; null means this default")
    audio_loss_multiplier: float = field(
        1.0, ge=0, le=1000, description="Manual audio-loss scale (ignored when auto-balance is on)")
    auto_balance_audio_loss: bool = model_field(
        "train.auto_balance_audio_loss", description="Scale the audio loss by an EMA multiplier "
        "so it stays near auto_balance_target_ratio of the video loss")
    auto_balance_target_ratio: float = field(
        0.33, gt=0, le=10, description="Target audio/video loss ratio of the auto-balancer")
    audio_balance_mode: Literal["auto", "fixed", "off"] | None = field(
        None, description="How the audio loss is weighted: auto (the EMA balancer toward "
        "auto_balance_target_ratio), fixed (audio_loss_multiplier) or off (the raw audio loss, weight 1); "
        "None = auto when auto_balance_audio_loss is on, else fixed")
    audio_batch_min_ratio: float = field(
        0.0, ge=0, le=1, description="At least this share of steps carries items with voice: a step whose "
        "batch has none takes a voiced batch instead (drawn from the seed, so a resume repeats it); 0 = off")
    video_to_audio_probability: float = field(
        0.0, ge=0, le=1, description="Share of joint clip items with voice trained video-to-audio per step: "
        "the video stays clean (sigma 0) as the condition, only the audio is denoised and scored")
    audio_to_video_probability: float = field(
        0.0, ge=0, le=1, description="Share of joint clip items with voice trained audio-to-video per step: "
        "the audio stays clean as the condition, only the video is denoised and scored")
    validate_every: int = field(
        250, ge=1, le=10_000_000, description="With validation_datasets: the validation loss per modality "
        "every N steps (and at step 0), at fixed sigmas and fixed noise")
    independent_audio_timestep: bool = model_field(
        "train.independent_audio_timestep", description="Draw the audio timestep independently "
        "of the video timestep (the deepest fix for voice quality)")
    audio_preservation: Literal["none", "silence", "base"] = field(
        "base", description="Audio target for batches without audio: none, silence, or the "
        "base model's own audio prediction")
    audio_preservation_multiplier: float = field(
        1.0, ge=0, le=100, description="Weight of the audio preservation loss")
    strict_audio_mode: bool = field(
        False, description="Stop the run if too few items that should carry a voice (clips of do_audio "
        "datasets) have speech (music, tones, noise and silence train audio but are not a voice): judged "
        "after caching, before training, and per step after the warm-up")
    strict_audio_min_supervised_ratio: float = field(
        0.9, ge=0, le=1, description="Minimum share, in strict mode, of the items that should carry a voice "
        "whose window has speech (images and do_audio: false datasets are not counted)")
    strict_audio_warmup_steps: int = field(
        50, ge=0, le=10_000_000, description="Steps before strict audio mode judges the items trained so "
        "far (the cached items are judged at once)")
    max_nonfinite_steps: int = field(
        5, ge=1, le=10_000, description="Stop after this many consecutive NaN/inf losses")

    @field_validator(
        "optimizer", "lr_scheduler", "noise_scheduler", "timestep_type", "content_or_style",
        "loss_type", "audio_preservation", "audio_balance_mode", "lora_precision", mode="before")
    @classmethod
    def _lower(cls, v: Any) -> Any:
        return lower_str(v)

    @field_validator("lora_cast_before_add", "offload_checkpoints", "ff_chunk_tokens", "optimizer_offload",
                     mode="before")
    @classmethod
    def _auto(cls, v: Any) -> Any:
        return auto_is_unset(v)

    @field_validator("dtype", mode="before")
    @classmethod
    def _dtype(cls, v: Any) -> Any:
        return normalise_dtype(v)

    @field_validator("seed", mode="before")
    @classmethod
    def _seed(cls, v: Any) -> Any:
        # `seed: null` (files from before the default was written down, and the UI's empty
        # field) is the default seed, never a random one: a run must be repeatable.
        return cls.model_fields["seed"].default if v is None else v

    @model_validator(mode="before")
    @classmethod
    def _aliases(cls, data: Any) -> Any:
        return _one_of_aliases(data, "train", ("gradient_accumulation", "gradient_accumulation_steps"))

    @model_validator(mode="after")
    def _audio_balance(self) -> TrainConfig:
        mode, auto = self.audio_balance_mode, self.auto_balance_audio_loss
        if mode is None:
            self.audio_balance_mode = "auto" if auto else "fixed"
        elif "auto_balance_audio_loss" in self.model_fields_set and (mode == "auto") != auto:
            raise ValueError(f"audio_balance_mode {mode} and auto_balance_audio_loss {show_value(auto)} disagree: "
                             "give only audio_balance_mode")
        else:
            self.auto_balance_audio_loss = mode == "auto"
        both = self.video_to_audio_probability + self.audio_to_video_probability
        if both > 1.0 + 1e-9:
            raise ValueError(f"video_to_audio_probability + audio_to_video_probability is {both:g}; together they "
                             "are a share of the items and must not pass 1")
        return self


class ModelKwargs(Section):
    """Model-specific settings (ai-toolkit's `model_kwargs`): LTX-2.5 split files and compute options."""

    dit_path: str | None = field(
        None, description="LTX-2.5: the transformer file (diffusion_models/…-transformer-….safetensors); "
        "a local path or org/repo/file in the Hugging Face cache")
    text_encoder_path: str | None = field(
        None, description="LTX-2.5: the text-encoder file (text_encoders/gemma4-…-with-proj-….safetensors)")
    video_vae_path: str | None = field(
        None, description="LTX-2.5: the conv video VAE file (vae/ltx-2.5-video-vae-conv-….safetensors)")
    audio_vae_path: str | None = field(
        None, description="LTX-2.5: the audio VAE + vocoder file (vae/ltx-2.5-audio-vae-….safetensors)")
    cross_timestep_routing: Literal["own", "reference", "cross"] | None = field(
        None, description="Which timesteps modulate the audio-video cross-attention: own (LTX-2.0), reference "
        "(own per-token scale/shift, the other modality's sigma for the gate: Lightricks' current reference) or "
        "cross (diffusers' use_cross_timestep); unset: the version's default")
    use_cross_timestep: bool | None = field(
        None, description="Cross-modal attention timesteps from the other modality's sigma (unset: the version's default)")
    compile_backend: str = field("inductor", description="torch.compile backend when model.compile is on")
    compile_mode: str | None = field(None, description="torch.compile mode when model.compile is on")

    def file_paths(self) -> dict[str, str]:
        """The weight-file paths that are set (key -> value), for the loader and the checks."""
        return {k: v for k in ("dit_path", "text_encoder_path", "video_vae_path", "audio_vae_path")
                if (v := getattr(self, k))}


class ModelConfig(Section):
    """The base model and how it is held in memory."""

    ignored_upstream_keys: ClassVar[dict[str, UpstreamKey]] = UPSTREAM_KEYS["model"]

    name_or_path: str = field(description=NAME_OR_PATH_HELP)
    arch: Arch = field(
        "ltx2", description="LTX-2 version: ltx2 (LTX-2.0), ltx2.3 or ltx2.5 (LTX-2, LTX-2.3, LTX-2.5 are "
        "accepted); its sampling defaults apply to keys you leave out")
    te_name_or_path: str | None = field(
        None, description="Text encoder (and tokenizer) from this folder or hub id instead of name_or_path: "
        "a diffusers folder with text_encoder/ and tokenizer/, or a Gemma folder itself (needed with an original "
        "2.0/2.3 .safetensors file, which holds no text encoder); or a text-encoder .safetensors file: LTX-2.5's, or "
        "ComfyUI's Gemma 3 file for 2.0/2.3 (its tokenizer and config then from extras_name_or_path)")
    extras_name_or_path: str | None = field(
        None, description="Where components missing from name_or_path (VAEs, vocoder, connectors, scheduler, "
        "text encoder) are read from: a diffusers folder or hub id of the same version")
    quantize: bool = field(False, description="Quantize the transformer weights (less VRAM)")
    qtype: QType = field(
        "qfloat8", description="Transformer quantization type: optimum-quanto qint2/qint4/qint8/qfloat8/"
        "qfloat8_e4m3fn/qfloat8_e4m3fnuz/qfloat8_e5m2, or torchao weight-only int8/float8/uint2..uint8")
    quantize_te: bool = field(False, description="Quantize the text encoder weights")
    qtype_te: QType = field("qfloat8", description="Text encoder quantization type")
    low_vram: bool = field(
        False, description="Accepted for ai-toolkit configs; every run now holds each component on the device only in "
        "the phases that use it (docs/memory.md, Phases), which is what low_vram asked for")
    text_encoder_placement: Literal["auto", "device", "offload", "cpu"] = field(
        "auto", description="Where the text encoder runs while captions are encoded (before anything else loads; "
        "freed after): device; offload (its layers rest in RAM and visit the device in turn, "
        "layer_offloading_text_encoder_percent of them); cpu (slow, for a few prompts); auto picks by free memory "
        "and says which, in 8 or 4 bits if it does not fit otherwise and quantize_te is not set to false")
    vae_tiling: Literal["auto", "true", "false"] = field(
        "auto", description="Encode clips and decode samples in overlapping tiles (512 px, 16 frames), so a "
        "121-frame 768x768 clip fits; tiled latents differ slightly from whole ones (they are cached apart). "
        "auto: tiles when a whole clip would not fit the memory free")
    layer_offloading: bool | None = field(
        None, description="Block swap: transformer/text-encoder weights rest in host memory (once, in their "
        "quantized form) and each block's are copied to the GPU while the one before it computes; unset: off "
        "(the start-up plan says when it is needed)")
    layer_offloading_transformer_percent: float = field(
        1.0, ge=0, le=1, description="Share of transformer layers offloaded (0-1)")
    layer_offloading_text_encoder_percent: float = field(
        1.0, ge=0, le=1, description="Share of text encoder layers offloaded (0-1)")
    compile: bool = field(False, description="torch.compile the transformer")
    fsdp: bool = field(
        False, description="Under several processes (accelerate launch), shard the frozen base and the "
        "network over the GPUs with FSDP2 instead of a full copy per GPU (for bf16 weights that do not "
        "fit one GPU); no effect in one process. Not with quantize, layer_offloading or DoRA")
    model_kwargs: ModelKwargs = field(ModelKwargs, description="Model-specific settings (split weight files, compile)")

    @field_validator("layer_offloading", mode="before")
    @classmethod
    def _auto(cls, v: Any) -> Any:
        return auto_is_unset(v)

    @field_validator("qtype", "qtype_te", mode="before")
    @classmethod
    def _qtype(cls, v: Any) -> Any:
        v = lower_str(v)
        problem = qtype_error(v) if isinstance(v, str) else None
        if problem:  # ai-toolkit-only names get the served list and the nearest one
            raise ValueError(problem)
        return v

    @field_validator("vae_tiling", mode="before")
    @classmethod
    def _tri_state(cls, v: Any) -> Any:
        """auto / true / false, as YAML booleans or words (the UI lists the three words)."""
        return ("true" if v else "false") if isinstance(v, bool) else lower_str(v)

    @field_validator("arch", mode="before")
    @classmethod
    def _arch(cls, v: Any) -> Any:
        return family_for_arch(v).normalise_arch(v) if isinstance(v, str) else v

    @field_validator("te_name_or_path", "extras_name_or_path")
    @classmethod
    def _optional_paths(cls, v: str | None) -> str | None:
        return v.strip() or None if isinstance(v, str) else v

    @field_validator("name_or_path")
    @classmethod
    def _name_or_path(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("is required: " + NAME_OR_PATH_HELP[0].lower() + NAME_OR_PATH_HELP[1:])
        return v.strip()


class DatasetConfig(Section):
    """One folder of clips/images with same-named caption files."""

    ignored_upstream_keys: ClassVar[dict[str, UpstreamKey]] = UPSTREAM_KEYS["datasets"]

    folder_path: str = field(description="The folder with the media files and their caption files")
    caption_ext: str = field("txt", description="Caption file extension (a leading dot is removed)")
    default_caption: str = field("", description="Caption for media without a caption file")
    caption_dropout_rate: float = field(
        0.0, ge=0, le=1, description="Probability of training a step with an empty caption")
    resolution: list[Pixels] = field(
        [512], min_length=1,
        description="Training resolution(s) in pixels (the longer side is bucketed); int or list")
    num_frames: Frames = field(1, description="Frames per clip, 8k+1; 1 means image training")
    fps: float = field(24.0, gt=0, le=240, description="Frame rate at which clips are sampled")
    shrink_video_to_frames: bool | None = field(
        None, description="Spread num_frames over the whole clip; None = automatic: keep a "
        "contiguous natural-speed window when audio is used. With do_audio, true only takes "
        "effect together with shrink_video_with_audio")
    shrink_video_with_audio: bool = field(
        False, description="With do_audio, let shrink_video_to_frames spread the frames anyway: the "
        "clip's audio is squeezed into the window (audio_preserve_pitch keeps the voice's pitch)")
    auto_frame_count: bool = field(
        False, description="Use each clip's own length (rounded down to 8k+1, up to num_frames)")
    do_audio: bool | None = field(
        None, description="Train on the clips' audio; None = automatic: true when num_frames > 1")
    audio_normalize: bool = field(False, description="Loudness-normalise each clip's audio")
    audio_preserve_pitch: bool = field(
        True, description="When spread frames squeeze a clip's audio, time-stretch it at its own "
        "pitch (FFmpeg atempo) instead of resampling it (which raises the pitch)")
    do_i2v: float = field(
        0.0, ge=0, le=1, description="Train this dataset's clips image-to-video: the first frame stays clean "
        "(timestep 0) as the condition and is left out of the loss. true = every step; a number in [0, 1] = "
        "that share of the clip items, drawn per item and step from the seed")
    direction: Literal["joint", "video_to_audio", "audio_to_video"] = field(
        "joint", description="joint: both modalities denoised and scored; video_to_audio: the video stays "
        "clean (sigma 0) as the condition and only the audio is denoised and scored; audio_to_video: the other "
        "way round (clips with voice; others train joint)")
    flip_x: bool = field(False, description="Add horizontally mirrored copies")
    flip_y: bool = field(False, description="Add vertically mirrored copies")
    num_repeats: int = field(1, ge=1, le=10_000, description="Times each item appears per epoch")
    window_variants: int = field(
        2, ge=1, le=8, description="Sets of clip window positions cached; each epoch trains one, drawn at "
        "random (random windows per epoch; 1 = fixed windows, half the caching)")
    cache_latents_to_disk: bool = field(
        False, description="Cache VAE latents (and audio latents) next to the media")
    cache_text_embeddings: bool = field(
        False, description="Accepted for ai-toolkit configs: every dataset's caption embeddings are cached")
    loss_multiplier: float = field(1.0, ge=0, le=100, description="Loss weight of this dataset")

    @field_validator("do_i2v", mode="before")
    @classmethod
    def _i2v_bool(cls, v: Any) -> Any:
        # ai-toolkit's true/false is the probability 1/0
        return float(v) if isinstance(v, bool) else v

    @field_validator("direction", mode="before")
    @classmethod
    def _lower_direction(cls, v: Any) -> Any:
        return lower_str(v)

    @field_validator("caption_ext")
    @classmethod
    def _caption_ext(cls, v: str) -> str:
        ext = v.strip().lstrip(".")
        if not ext or "/" in ext or "\\" in ext:
            raise ValueError(f"({show_value(v)}) must be a file extension such as txt")
        return ext

    @field_validator("folder_path")
    @classmethod
    def _folder_path(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("is required: the folder with the media files and their caption files")
        return v

    @field_validator("resolution", mode="before")
    @classmethod
    def _resolution(cls, v: Any) -> Any:
        if isinstance(v, bool) or not isinstance(v, (int, list)):
            raise ValueError(f"({show_value(v)}) must be an integer or a list of integers")
        return [v] if isinstance(v, int) else v

    # Settings the automatic rules overrode, for one warning each (toolkit.configuration.notes).
    _overridden: list[str] = PrivateAttr(default_factory=list)

    @model_validator(mode="after")
    def _automatic(self) -> DatasetConfig:
        if self.num_frames == 1 and self.do_audio:
            # One frame cannot carry a clip's sound: clips train as stills, as in ai-toolkit.
            self._overridden.append("do_audio")
            self.do_audio = False
        if self.do_audio is None:
            self.do_audio = do_audio_for(self.num_frames)
        if self.shrink_video_to_frames and self.do_audio and not self.shrink_video_with_audio:
            # Spreading would squeeze the voice (a 2 s clip into 0.7 s); natural speed wins.
            self._overridden.append("shrink_video_to_frames")
            self.shrink_video_to_frames = False
        if self.shrink_video_to_frames is None:
            self.shrink_video_to_frames = spread_for(self.do_audio)
        return self


class SaveConfig(Section):
    """Checkpoints of the adapter."""

    ignored_upstream_keys: ClassVar[dict[str, UpstreamKey]] = UPSTREAM_KEYS["save"]

    dtype: DType = field(
        "bf16", description="Dtype of the saved adapter weights (aliases bfloat16/float16/float32)")
    save_every: int = field(250, ge=1, le=10_000_000, description="Save a checkpoint every N steps")
    max_step_saves_to_keep: int = field(
        4, ge=0, le=10_000, description="Step checkpoints kept (older ones are deleted); 0 keeps all")
    format: Literal["comfyui", "diffusers"] = field(
        "comfyui", description="LoRA key names: comfyui (original LTX names under diffusion_model.*, read by "
        "ComfyUI and diffusers; docs/lora_files.md) or diffusers (transformer.* PEFT names, which ComfyUI ignores)")

    @field_validator("dtype", mode="before")
    @classmethod
    def _dtype(cls, v: Any) -> Any:
        return normalise_dtype(v)

    @field_validator("format", mode="before")
    @classmethod
    def _lower(cls, v: Any) -> Any:
        return lower_str(v)


class SampleItem(Section):
    """One sample prompt; unset values come from the sample section."""

    ignored_upstream_keys: ClassVar[dict[str, UpstreamKey]] = UPSTREAM_KEYS["samples"]

    prompt: str = field(description="The prompt to render (the trigger word is added as in training)")
    width: Pixels | None = field(None, description="Override of sample.width")
    height: Pixels | None = field(None, description="Override of sample.height")
    num_frames: Frames | None = field(None, description="Override of sample.num_frames")
    fps: float | None = field(None, gt=0, le=240, description="Override of sample.fps")
    seed: int | None = field(None, ge=0, le=2**32 - 1, description="Override of the seed")
    guidance_scale: float | None = field(
        None, ge=0, le=100, description="Override of sample.guidance_scale")
    audio_guidance_scale: float | None = field(
        None, ge=0, le=100, description="Override of sample.audio_guidance_scale")
    sample_steps: SampleSteps | None = field(None, description="Override of sample.sample_steps")
    neg: str | None = field(None, description="Override of sample.neg")
    ctrl_img: str | None = field(
        None, description="First-frame image for image-to-video sampling")


class SampleConfig(Section):
    """Sample videos (with sound) rendered during training."""

    ignored_upstream_keys: ClassVar[dict[str, UpstreamKey]] = UPSTREAM_KEYS["sample"]

    sampler: Literal["flowmatch"] = field("flowmatch", description="Sampler; flowmatch only")
    sample_every: int = field(250, ge=1, le=10_000_000, description="Render samples every N steps")
    sample_start_step: int = field(
        0, ge=0, le=10_000_000, description="No periodic samples before this step (the step-0 "
        "sample follows skip_first_sample)")
    width: Pixels = field(768, description="Sample width in pixels (multiple of 32)")
    height: Pixels = field(512, description="Sample height in pixels (multiple of 32)")
    num_frames: Frames = field(121, description="Frames per sample, 8k+1")
    fps: float = field(24.0, gt=0, le=240, description="Frame rate of the samples")
    guidance_scale: float = model_field(
        "sample.guidance_scale", ge=0, le=100, description="Classifier-free guidance scale of the video")
    audio_guidance_scale: float = model_field(
        "sample.audio_guidance_scale", ge=0, le=100, description="Classifier-free guidance scale of the audio")
    stg_scale: float = model_field(
        "sample.stg_scale", ge=0, le=100, description="Spatio-temporal guidance of the video at the "
        "version's STG block (reference 1.0); 0 switches STG off and saves one transformer pass per step")
    audio_stg_scale: float = model_field(
        "sample.audio_stg_scale", ge=0, le=100, description="Spatio-temporal guidance of the audio "
        "(default: sample.stg_scale); cannot be 0 while stg_scale is not")
    sample_steps: SampleSteps = model_field("sample.sample_steps", description="Denoising steps per sample; at least 2 (LTX-2's scheduler cannot make a one-step schedule)")
    seed: int = field(42, ge=0, le=2**32 - 1, description="Seed of the first sample")
    walk_seed: bool = field(True, description="Sample i uses seed + i (else all use seed)")
    neg: str = field("", description="Negative prompt")
    samples: list[SampleItem] = field(
        [], description="Prompts with optional per-sample overrides (legacy: prompts: [str])")
    voice_metric: bool | None = field(
        None, description="Score each sample's voice against the training clips' voice (speaker "
        "similarity, docs/voice_metric.md); default: on when a dataset has audio")
    audio_only: bool | None = field(
        None, description="Also write each sample's sound as a .wav beside its mp4; None = automatic: on when "
        "every training item is an audio file (an audio-only run)")

    @field_validator("sampler", mode="before")
    @classmethod
    def _lower(cls, v: Any) -> Any:
        return lower_str(v)

    @model_validator(mode="before")
    @classmethod
    def _legacy_prompts(cls, data: Any) -> Any:
        if not isinstance(data, dict) or "prompts" not in data:
            return data
        if not data["prompts"]:  # an empty legacy list next to samples means nothing: drop it
            return {k: v for k, v in data.items() if k != "prompts"}
        if "samples" in data:
            raise ValueError("give sample.samples or the legacy sample.prompts, not both")
        prompts = data["prompts"]
        if not isinstance(prompts, list) or not all(isinstance(p, str) for p in prompts):
            raise ValueError(f"prompts ({show_value(prompts)}) must be a list of prompt strings")
        rest = {k: v for k, v in data.items() if k != "prompts"}
        rest["samples"] = [{"prompt": p} for p in prompts]
        return rest

    @model_validator(mode="after")
    def _audio_stg_needs_video_off(self) -> SampleConfig:
        # diffusers' LTX2Pipeline reads an audio STG scale of 0 as "same as the video's", so
        # audio-only-off cannot be asked of it; say so instead of silently guiding the audio.
        if self.audio_stg_scale == 0 and self.stg_scale > 0:
            raise ValueError(f"audio_stg_scale 0 with stg_scale {self.stg_scale} cannot be run (the "
                             "LTX-2 pipeline then uses the video's scale for the audio): set both to 0 "
                             "to switch STG off, or give audio_stg_scale a value above 0")
        return self

    def resolved(self) -> list[SampleItem]:
        """The samples with every override filled in from this section (seed walks if asked)."""
        out = []
        for i, item in enumerate(self.samples):
            seed = self.seed + i if self.walk_seed else self.seed
            values = {
                "width": self.width, "height": self.height, "num_frames": self.num_frames,
                "fps": self.fps, "seed": seed, "guidance_scale": self.guidance_scale,
                "audio_guidance_scale": self.audio_guidance_scale,
                "sample_steps": self.sample_steps, "neg": self.neg,
            }
            values.update({k: v for k, v in item.model_dump().items() if v is not None})
            out.append(item.model_copy(update=values))
        return out


class LoggingConfig(Section):
    """Console and metrics output."""

    ignored_upstream_keys: ClassVar[dict[str, UpstreamKey]] = UPSTREAM_KEYS["logging"]

    log_every: int = field(10, ge=1, le=1_000_000, description="Print and record metrics every N steps")
    use_tensorboard: bool = field(
        False, description="Also write the metrics as TensorBoard event files in <run>/tensorboard")


class ProcessConfig(Section):
    """One training process: what to train, on what, and how."""

    ignored_upstream_keys: ClassVar[dict[str, UpstreamKey]] = UPSTREAM_KEYS["process"]

    type: Literal["sd_trainer", "diffusion_trainer", "ui_trainer"] = field(
        "sd_trainer", description="Process type; sd_trainer, diffusion_trainer and ui_trainer are the same trainer")
    training_folder: str = field("output", description="Runs are written to <training_folder>/<name>/")
    device: str = field(
        "auto", pattern=r"^(auto|cpu|mps|cuda(:\d+)?)$",
        description="auto, cpu, mps, cuda or cuda:N")
    trigger_word: str | None = field(
        None, description="Word added to captions (and replacing [trigger]) that names the character")
    performance_log_every: int = field(
        0, ge=0, le=1_000_000, description="Print the mean step time of the last N steps every N steps; 0 disables")
    network: NetworkConfig = field(NetworkConfig, description="The trained adapter")
    train: TrainConfig = field(TrainConfig, description="Optimisation, loss and audio settings")
    model: ModelConfig = field(description="The base model section (name_or_path is required)")
    datasets: list[DatasetConfig] = field(
        min_length=1, description="A list of one or more dataset folders")
    validation_datasets: list[DatasetConfig] = field(
        [], description="Held-out dataset folders (same keys as datasets), never trained on: their loss per "
        "modality every train.validate_every steps picks the best checkpoint (<name>_best_val.safetensors)")
    save: SaveConfig = field(SaveConfig, description="Checkpoint settings")
    sample: SampleConfig = field(SampleConfig, description="Sampling during training")
    logging: LoggingConfig = field(LoggingConfig, description="Logging settings")

    @field_validator("type", "device", mode="before")
    @classmethod
    def _lower(cls, v: Any) -> Any:
        return lower_str(v)

    @model_validator(mode="before")
    @classmethod
    def _empty_sections(cls, data: Any) -> Any:
        """``network:`` with nothing under it (YAML null) means "all defaults"; then the
        model's arch fills in its own defaults for keys left out."""
        if isinstance(data, dict):
            optional = ("network", "train", "save", "sample", "logging")
            data = {k: v for k, v in data.items() if not (k in optional and v is None)}
        return apply_arch_defaults(data)

    @model_validator(mode="after")
    def _cross_checks(self) -> ProcessConfig:
        has_audio = any(d.do_audio for d in self.datasets)
        if self.network.train_audio_modules is None:
            self.network.train_audio_modules = has_audio
        if self.sample.voice_metric is None:
            self.sample.voice_metric = has_audio
        if self.train.diff_output_preservation:
            if not self.trigger_word:
                raise ValueError(
                    "train.diff_output_preservation needs trigger_word: it is the word that is "
                    "replaced by diff_output_preservation_class")
            if self.train.cache_text_embeddings or any(d.cache_text_embeddings for d in self.datasets):
                raise ValueError(
                    "train.diff_output_preservation cannot be used with cache_text_embeddings "
                    "(it encodes new captions every step)")
        if self.model.fsdp:
            clash = [name for name, on in (("model.quantize", self.model.quantize),
                                           ("model.layer_offloading", self.model.layer_offloading),
                                           ("network.type: dora", self.network.type == "dora")) if on]
            if clash:
                raise ValueError(
                    f"model.fsdp cannot be combined with {', '.join(clash)}: FSDP shards plain weights "
                    "(use quantize or offloading without fsdp, or fsdp alone)")
        lever_clashes = lever_config_problems(self)
        if lever_clashes:
            raise ValueError(lever_clashes[0])
        duplicate = duplicate_dataset_error(self.datasets)
        if duplicate:
            raise ValueError(duplicate)
        directional = [d.folder_path for d in self.datasets if d.direction != "joint" and not d.do_audio]
        if directional:
            raise ValueError(f"datasets with direction video_to_audio or audio_to_video need do_audio (their "
                             f"clips' voice is one side of the pair): {', '.join(directional)}")
        wants_audio = [key for key, on in (
            ("train.audio_batch_min_ratio", self.train.audio_batch_min_ratio > 0),
            ("train.video_to_audio_probability", self.train.video_to_audio_probability > 0),
            ("train.audio_to_video_probability", self.train.audio_to_video_probability > 0),
            ("network.audio_linear", self.network.audio_linear is not None),
            ("train.audio_lr", self.train.audio_lr is not None)) if on]
        if wants_audio and not (has_audio and self.network.train_audio_modules):
            raise ValueError(f"{', '.join(wants_audio)} need{'s' if len(wants_audio) == 1 else ''} the voice trained: "
                             "no dataset has do_audio, or network.train_audio_modules is off")
        for d in self.validation_datasets:
            if d.direction != "joint":
                raise ValueError(f"validation_datasets: {d.folder_path} sets direction {d.direction}; validation "
                                 "scores both modalities of every item (leave direction out)")
        if self.train.strict_audio_mode and not has_audio:
            raise ValueError(
                "train.strict_audio_mode needs audio, but no dataset has do_audio "
                "(set do_audio: true on a video dataset, or turn strict_audio_mode off)")
        return self


class ConfigSection(Section):
    """The run: its name and its processes."""

    name: str = field(
        description="The run's name; it names the output folder and files (letters, digits, _ - .; other "
        "characters are replaced, a name that points outside training_folder such as ../x is refused)")
    process: list[ProcessConfig] = field(min_length=1, description="Processes, run in order")

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        cleaned = sanitize_name(v)
        if not any(c.isalnum() for c in cleaned):
            raise ValueError(f"({show_value(v)}) must contain letters or digits: it names the output folder")
        return cleaned


class JobConfig(Section):
    """A whole config file."""

    job: Literal["extension"] = field("extension", description="Job kind; only extension")
    config: ConfigSection = field(description="The run's name and its list of processes")
    meta: dict[str, Any] = field({}, description="Free-form metadata (kept, not used)")
