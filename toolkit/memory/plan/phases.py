"""Device and host memory of each phase of a run, from the plan's parts (docs/memory.md, "Phases").

A run encodes every caption with Gemma alone on the device ("text"), turns them into what
the transformer reads with the frozen connectors alone ("connectors", skipped when they
train), encodes the clips with the VAEs alone ("clips", in tiles when a whole clip would not
fit), then trains and samples. Each phase frees what no later phase needs. The run's device
peak is the largest phase; its host peak likewise. Sampling during training ("sample") keeps
the training step's resting parts; its guidance passes run one after another when together
they would put more tokens through the transformer than a training item, and the video VAE
decodes in tiles unless the whole sample fits in what a training step's own work uses
(`sampling_phase`), so a sample never needs more than a training step.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from toolkit.memory.estimate import STEP_PARTS, Estimate, block_saved_bytes, estimate
from toolkit.memory.placement import (
    TEXT_ACTIVATION_BYTES,
    VAE_DECODE_BYTES_PER_PIXEL,
    VAE_ENCODE_BYTES_PER_PIXEL,
    VAE_FIXED_BYTES,
    weight_bytes,
)
from toolkit.memory.plan.host import DECODERS_RESTING, RUNTIME_BYTES, load_transient, training_host
from toolkit.memory.plan.settings import CUDA_CONTEXT_BYTES, DTYPE_BYTES, GiB, MemorySettings, TrainShape
from toolkit.memory.sizes import (
    AUDIO_VAE_PARAMS,
    CONNECTOR_PARAMS,
    VAE_SPATIAL,
    VAE_TEMPORAL,
    VIDEO_VAE_PARAMS,
    VOCODER_PARAMS,
)

TEXT_LAYERS = 48
# What loads of Gemma: its language model alone (the loader leaves the vision tower
# out): embeddings 262208 x 3840 plus 48 layers of attention (3840 -> 16 x 256 queries, 8 x 256
# keys and values) and a 15360-wide gated MLP, for Gemma 3 12B; Gemma 4 12B about the same.
TEXT_ENCODER_LM_PARAMS = {"2.0": 11_766_034_432, "2.3": 11_766_034_432, "2.5": 11_800_000_000}


@dataclass(frozen=True)
class ComponentSizes:
    """Parameter counts of the components a run loads beside the transformer: the released
    model's by default; a local model folder's own when the family reads them from its weight
    headers (a cut-down or variant folder is then planned as it is)."""

    text_encoder: int  # Gemma's language model (what loads: no vision tower)
    text_layers: int
    connectors: int
    video_vae: int
    audio_vae: int
    vocoder: int

    @classmethod
    def released(cls, version: str) -> ComponentSizes:
        return cls(TEXT_ENCODER_LM_PARAMS[version], TEXT_LAYERS, CONNECTOR_PARAMS[version], VIDEO_VAE_PARAMS[version],
                   AUDIO_VAE_PARAMS[version], VOCODER_PARAMS[version])

    @classmethod
    def of(cls, version: str, found: dict | None) -> ComponentSizes:
        """The released sizes with what a folder's headers gave (`found`: field -> count) in place."""
        return replace(cls.released(version), **{k: v for k, v in (found or {}).items() if v})


# The tile the video VAE encodes at once when tiling (LTX2Settings.vae_tile): frames, pixels.
VAE_TILE = (17, 512)


@dataclass
class Phase:
    name: str
    device: dict = field(default_factory=dict)  # part -> bytes
    host: dict = field(default_factory=dict)
    note: str = ""

    @property
    def device_total(self) -> float:
        return float(sum(self.device.values()))

    @property
    def host_total(self) -> float:
        return float(sum(self.host.values()))


@dataclass(frozen=True)
class CachingSettings:
    """How captions and clips are encoded (config keys model.text_encoder_placement,
    model.qtype_te, model.vae_tiling)."""

    text_encoder_placement: str = "device"  # device | offload | cpu
    text_encoder_qtype: str | None = None  # None: the compute dtype
    text_encoder_offload_percent: float = 1.0
    vae_tile: tuple[int, int] | None = None  # (frames, pixels) or None: whole clips (VAE_TILE when tiling)


def text_encoder_bytes(version: str, dtype: str, qtype: str | None, sizes: ComponentSizes | None = None) -> float:
    sizes = sizes or ComponentSizes.released(version)
    return weight_bytes(sizes.text_encoder, DTYPE_BYTES[dtype], qtype)


def text_phase(version: str, dtype: str, caching: CachingSettings, cuda: bool,
               sizes: ComponentSizes | None = None) -> Phase:
    sizes = sizes or ComponentSizes.released(version)
    weights = text_encoder_bytes(version, dtype, caching.text_encoder_qtype, sizes)
    layers = sizes.text_layers
    ctx = {"CUDA context": CUDA_CONTEXT_BYTES} if cuda else {}
    phase = Phase("text", host={"process": RUNTIME_BYTES})
    if caching.text_encoder_placement == "cpu":
        phase.host["text encoder (computing on the CPU)"] = weights + TEXT_ACTIVATION_BYTES
        phase.device.update(ctx)
        return phase
    if caching.text_encoder_placement == "offload":
        streamed = round(caching.text_encoder_offload_percent * layers)
        per_layer = weights / layers
        phase.device["text encoder (resident layers)"] = (layers - streamed) * per_layer
        phase.device["text encoder (next layer in flight)"] = per_layer if streamed > 1 else 0.0
        phase.host["text encoder (streamed layers)"] = streamed * per_layer
    else:
        phase.device["text encoder"] = weights
    phase.device["text encoder activations"] = TEXT_ACTIVATION_BYTES
    phase.device.update(ctx)
    return phase


def connectors_phase(version: str, dtype: str, cuda: bool, sizes: ComponentSizes | None = None) -> Phase:
    sizes = sizes or ComponentSizes.released(version)
    phase = Phase("connectors", host={"process": RUNTIME_BYTES})
    phase.device["text connectors"] = sizes.connectors * DTYPE_BYTES[dtype]
    phase.device["connector activations"] = 0.2 * GiB  # 1024 tokens, two layers, no gradients
    if cuda:
        phase.device["CUDA context"] = CUDA_CONTEXT_BYTES
    return phase


def clips_phase(version: str, dtype: str, shape_frames: int, shape_side: int, tile: tuple[int, int] | None,
                cuda: bool, sizes: ComponentSizes | None = None) -> Phase:
    sizes = sizes or ComponentSizes.released(version)
    frames, side = tile if tile else (shape_frames, shape_side)
    frames, side = min(frames, shape_frames), min(side, shape_side)
    phase = Phase("clips", host={"process": RUNTIME_BYTES})
    phase.device["VAEs"] = (sizes.video_vae + sizes.audio_vae) * DTYPE_BYTES[dtype]
    # measured at real width (bench/vae_memory.py; placement.py decides tiling by the same figure)
    phase.device["VAE encoder working set"] = VAE_FIXED_BYTES + VAE_ENCODE_BYTES_PER_PIXEL * frames * side * side
    if cuda:
        phase.device["CUDA context"] = CUDA_CONTEXT_BYTES
    phase.note = f"tiles of {frames} frames x {side}x{side} px" if tile else "whole clips"
    return phase


def load_phase(config: dict, settings: MemorySettings, est: Estimate) -> Phase:
    """While the transformer is read: what rests on the host so far and the block in hand."""
    return Phase("load", host={"process": RUNTIME_BYTES,
                               "offloaded blocks": est.host.get("offloaded blocks", 0.0),
                               "a block being read (compute dtype)": load_transient(config, settings)})


def training_phase(version: str | None, config: dict, shape: TrainShape, settings: MemorySettings,
                   prompts: int = 0, sizes: ComponentSizes | None = None) -> tuple[Phase, Estimate]:
    est = estimate(config, shape, settings)
    decoders = decoder_bytes(version, settings.dtype, sizes) if version else 0.0
    phase = Phase("train", device=dict(est.components),
                  host=training_host(version, config, settings, est, prompts, decoders))
    if est.optimizer_step > est.backward:
        phase.device = {k: v for k, v in est.components.items() if k not in STEP_PARTS}
        phase.device["adapter gradients"] = est.optimizer_step - sum(phase.device.values())
        phase.note = "peak in the optimizer step (every gradient exists)"
    return phase, est


def sampling_phase(version: str, config: dict, shape: TrainShape, settings: MemorySettings, train: Phase,
                   est: Estimate, sample: tuple[int, int] | None = None, tile: tuple[int, int] = VAE_TILE,
                   sizes: ComponentSizes | None = None) -> Phase:
    """A sample rendered during training, at `sample` (frames, longest side in pixels; by
    default the training item's size): what rests for training stays on the device (weights,
    adapters, optimizer state, swapped blocks' buffer), the text side is not reloaded (the
    prompts are cached). Denoising runs one guidance pass at a time when, batched, they would
    exceed a training item's tokens (toolkit/memory/placement.py: guidance_in_sequence), so a
    forward holds at most one block's transients at a training item's size, counted as one
    block's whole saved set (more than an inference forward keeps). Then the decoders come
    to the device and the video VAE decodes whole if that fits in what the training step's
    own work used, else in tiles (placement.py's figures per pixel)."""
    resting = _resting_while_sampling(est)
    room = decode_room(version, settings.dtype, train, est, sizes)
    decode, how = sample_decode(version, settings.dtype, sample or clip_pixels(shape), room, tile, sizes)
    denoise = block_saved_bytes(config, shape, settings)
    phase = Phase("sample", device=dict(resting), host=dict(train.host))
    if decode >= denoise:
        phase.device["decoders + VAE decode"] = decode
        phase.host.pop(DECODERS_RESTING, None)  # moved to the device to decode: no longer on the host
        phase.note = how
    else:
        phase.device["denoising forward (one guidance pass)"] = denoise
        phase.note = "peak in a denoising forward"
    return phase


def _resting_while_sampling(est: Estimate) -> dict[str, float]:
    return {k: v for k, v in est.components.items() if k not in STEP_PARTS or k == "offload buffers"}


def decode_room(version: str, dtype: str, train: Phase, est: Estimate, sizes: ComponentSizes | None = None) -> float:
    """Room on the device for the video VAE's decode working set while sampling: what the
    training step's own work held above what rests there, less the decoders' weights. The
    run decodes whole only within it (phase_setup.py hands it to placement.py's tiling rule),
    so a sample never needs more than a training step."""
    return train.device_total - sum(_resting_while_sampling(est).values()) - decoder_bytes(version, dtype, sizes)


def sample_decode(version: str, dtype: str, sample: tuple[int, int], room: float,
                  tile: tuple[int, int] = VAE_TILE, sizes: ComponentSizes | None = None) -> tuple[float, str]:
    """(device bytes, how) of decoding a (frames, side) sample: the decoders' weights plus the
    video VAE's working set, whole when that working set fits in `room`, else one tile's."""
    frames, side = sample
    whole = VAE_FIXED_BYTES + VAE_DECODE_BYTES_PER_PIXEL * frames * side * side
    if whole <= room:
        return decoder_bytes(version, dtype, sizes) + whole, "decoding whole"
    tile_frames, tile_side = min(tile[0], frames), min(tile[1], side)
    tiled = VAE_FIXED_BYTES + VAE_DECODE_BYTES_PER_PIXEL * tile_frames * tile_side * tile_side
    return decoder_bytes(version, dtype, sizes) + tiled, f"decoding in tiles of {tile_frames} frames x {tile_side}x{tile_side} px"

def clip_pixels(shape: TrainShape) -> tuple[int, int]:
    """(frames, longest side in pixels) of the clip a training item's latent came from."""
    frames, height, width = shape.grid
    return (frames - 1) * VAE_TEMPORAL + 1, max(height, width) * VAE_SPATIAL


def decoder_bytes(version: str, dtype: str, sizes: ComponentSizes | None = None) -> float:
    """The decoders a sample needs (video VAE, audio VAE, vocoder) in the compute dtype."""
    sizes = sizes or ComponentSizes.released(version)
    return (sizes.video_vae + sizes.audio_vae + sizes.vocoder) * DTYPE_BYTES[dtype]
