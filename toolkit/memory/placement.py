"""Start-up rules for the phases (docs/memory.md, "Phases"): where Gemma encodes the captions,
whether the video VAE works in tiles, whether sampling runs its guidance passes one at a time.

    choose_text_encoder(TextEncoderNeed(...)) -> TextEncoderChoice("device", "qint8", why)
    choose_vae_tiling("auto", (121, 768, 768), (121, 768, 768), free, free_beside_transformer, TILE)
        -> VaeTiling(encode=False, decode=True, why)
    guidance_in_sequence(passes=2, sample_tokens=9216, train_tokens=9216) -> True

Each rule takes what the user set explicitly (a value other than "auto" always wins) and the
memory it has to work with, and says in words what it picked and why, for the run's log.
They are the one place these choices are made; the run's memory plan (toolkit/memory/plan/)
decides with the same inputs when it knows more.
"""

from __future__ import annotations

from dataclasses import dataclass

GiB = 1024 ** 3
HEADROOM = 0.9  # plan on 90% of what is free: the allocator and the activations of a prompt
# Gemma's activations for one 1024-token prompt (hidden states of every layer kept for the
# connectors: 49 x 1024 x 3840 x 2 bytes, plus one layer's work): far below a weight's size.
TEXT_ACTIVATION_BYTES = 0.6 * GiB
SMALL_DATASET_PROMPTS = 32  # few enough prompts that Gemma on the CPU takes minutes, not hours
BITS = {"qint2": 2, "qint4": 4, "uint2": 2, "uint3": 3, "uint4": 4, "uint5": 5, "uint6": 6, "uint7": 7}
EIGHT_BIT, FOUR_BIT = "qint8", "qint4"  # what "auto" quantizes Gemma to when it does not fit as it is
# What the untiled video VAE holds at its peak per pixel of a clip (frames x height x width),
# bf16: half of what bench/vae_memory.py measured in float32 on the CPU at real width, taken
# as the whole peak over the pixels of the largest clip measured (so its fixed part is inside):
# encoding 216 bytes a pixel (17x256x256), decoding 800 (9x256x256; the decoder works at full
# resolution with wide channels). A 121-frame 768x768 clip (71 M pixels) then encodes in
# about 7 GiB but decodes in about 27 GiB: samples of that size are decoded in tiles.
VAE_ENCODE_BYTES_PER_PIXEL = 108
VAE_DECODE_BYTES_PER_PIXEL = 400
VAE_FIXED_BYTES = 0.3 * GiB  # the same measurement's part that does not grow with the clip


def weight_bytes(params: int, dtype_bytes: int, qtype: str | None) -> int:
    """A text encoder's weights in memory: the compute dtype, or one byte a weight (fewer for
    the 2- and 4-bit quanto types), plus a small allowance for scales."""
    if qtype is None:
        return params * dtype_bytes
    bits = BITS.get(qtype, 8) if qtype.startswith("q") else 8  # torchao's uintN keeps a byte a weight
    return int(params * bits / 8 * 1.02)


@dataclass(frozen=True)
class TextEncoderNeed:
    """What the caption-encoding rule weighs."""

    requested: str  # model.text_encoder_placement: auto, device, offload, cpu
    params: int  # Gemma's language-model parameters (from the weight files' headers)
    dtype_bytes: int  # the compute dtype
    qtype: str | None  # model.qtype_te when model.quantize_te is on
    may_quantize: bool  # model.quantize_te was not set to false explicitly
    device_type: str  # "cuda" or "cpu"
    device_free: int | None  # bytes free on the device (None on the CPU)
    host_free: int | None  # bytes of host memory available
    prompts: int  # captions + sample prompts to encode


@dataclass(frozen=True)
class TextEncoderChoice:
    placement: str  # device, offload, cpu
    qtype: str | None  # None: the compute dtype
    why: str

    def describe(self) -> str:
        form = self.qtype or "the compute dtype"
        where = {"device": "on the device", "offload": "with its layers streamed from the host",
                 "cpu": "on the CPU"}[self.placement]
        return f"caption encoding: the text encoder runs {where}, in {form} ({self.why})"


def choose_text_encoder(need: TextEncoderNeed) -> TextEncoderChoice:
    """Where Gemma encodes the captions: the user's choice, else the first that fits of
    device (as configured) -> device in 8 bits -> device in 4 bits (only while quantize_te
    is not explicitly off) -> the CPU for a small dataset -> layers streamed from the host."""
    if need.requested != "auto":
        return TextEncoderChoice(need.requested, need.qtype, "model.text_encoder_placement")
    if need.device_type != "cuda" or need.device_free is None:
        return TextEncoderChoice("device", need.qtype, "host and device are the same memory here")
    budget = need.device_free * HEADROOM - TEXT_ACTIVATION_BYTES
    as_set = weight_bytes(need.params, need.dtype_bytes, need.qtype)
    if as_set <= budget:
        return TextEncoderChoice("device", need.qtype, f"{as_set / GiB:.1f} GiB fits the {need.device_free / GiB:.1f} GiB free")
    if need.qtype is None and need.may_quantize:
        for qtype in (EIGHT_BIT, FOUR_BIT):
            size = weight_bytes(need.params, need.dtype_bytes, qtype)
            if size <= budget:
                return TextEncoderChoice("device", qtype, f"{as_set / GiB:.1f} GiB does not fit the "
                                         f"{need.device_free / GiB:.1f} GiB free, {size / GiB:.1f} GiB in {qtype} does; "
                                         "set model.quantize_te: false to keep full precision")
    resting = weight_bytes(need.params, need.dtype_bytes, need.qtype or (EIGHT_BIT if need.may_quantize else None))
    qtype = need.qtype or (EIGHT_BIT if need.may_quantize else None)
    host_ok = need.host_free is None or resting <= need.host_free * HEADROOM
    if need.prompts <= SMALL_DATASET_PROMPTS and host_ok:
        return TextEncoderChoice("cpu", qtype, f"{need.prompts} prompts are few enough to encode on the CPU; "
                                 f"{as_set / GiB:.1f} GiB does not fit the {need.device_free / GiB:.1f} GiB free")
    return TextEncoderChoice("offload", qtype, f"{need.prompts} prompts; {resting / GiB:.1f} GiB rests on the host "
                             "and each layer visits the device in turn")


@dataclass(frozen=True)
class VaeTiling:
    encode: bool  # clips encode in tiles (their latents differ slightly: cached apart)
    decode: bool  # samples decode in tiles
    why: str

    def describe(self) -> str:
        parts = [f"clips {'in tiles' if self.encode else 'whole'}", f"samples decoded {'in tiles' if self.decode else 'whole'}"]
        return f"video VAE: {', '.join(parts)} ({self.why})"


def choose_vae_tiling(requested: str, largest_clip: tuple[int, int, int], largest_sample: tuple[int, int, int] | None,
                      clip_budget: float | None, sample_budget: float | None,
                      tile: tuple[int, int, int, int]) -> VaeTiling:
    """Whether the video VAE encodes clips, and decodes samples, in tiles: the user's choice
    for both, else each when its largest (frames, height, width) is larger than one tile and
    whole it would need more than its phase has (`clip_budget`: what is free for the clip
    phase, the VAEs alone; `sample_budget`: what is free beside the resting transformer).
    Tiling changes the result slightly, so it is not used where the whole clip fits."""
    if requested != "auto":
        on = requested == "true"
        return VaeTiling(on, on, f"model.vae_tiling: {requested}")
    pixels, _, tile_frames, _ = tile

    def needs_tiles(size, per_pixel, budget) -> tuple[bool, str]:
        frames, height, width = size
        if max(height, width) <= pixels and frames <= tile_frames:
            return False, f"{frames}x{height}x{width} is one tile"
        need = VAE_FIXED_BYTES + frames * height * width * per_pixel
        if budget is None or need <= budget * HEADROOM:
            return False, f"{frames}x{height}x{width} whole needs ~{need / GiB:.1f} GiB"
        return True, f"{frames}x{height}x{width} whole would need ~{need / GiB:.1f} GiB of {budget / GiB:.1f} GiB"

    encode, encode_why = needs_tiles(largest_clip, VAE_ENCODE_BYTES_PER_PIXEL, clip_budget)
    decode, decode_why = (False, "no samples")
    if largest_sample is not None:
        decode, decode_why = needs_tiles(largest_sample, VAE_DECODE_BYTES_PER_PIXEL, sample_budget)
    return VaeTiling(encode, decode, f"encoding {encode_why}; decoding {decode_why}")


def guidance_in_sequence(passes: int, sample_tokens: int, train_tokens: int | None) -> bool:
    """Run the pipeline's guidance passes one after another when, batched, they would put
    more video tokens through the transformer at once than the largest training item: a
    sample then never needs more activation memory than a training step. Unknown training
    size (a model used outside a run): batched, as diffusers does."""
    return passes > 1 and train_tokens is not None and passes * sample_tokens > train_tokens
