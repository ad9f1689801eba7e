"""Which LTX-2 components each phase of a run holds, and where: the adapter's one placement table.

A run goes through these phases, in this order (training and sampling then alternate):

    text        Gemma encodes every caption and sample prompt (kept per prompt by the run's
                text cache). Gemma alone is on the device (or, placed "cpu", computes on
                the host); it is freed when the phase ends: every prompt is known up front.
    connectors  The frozen text connectors turn each kept Gemma output into what the
                transformer reads; they are freed after. Skipped when they are trained
                (train.train_text_encoder): then they run every step.
    clips       The video and audio VAEs encode the clips (tiled when model.vae_tiling).
    train       The transformer (and the connectors only when they are trained).
    sample      The transformer and the decoders (video VAE, audio VAE, vocoder); prompts
                come from the text cache, so no text encoder and no frozen connectors.

A component a later phase still needs rests on the host in between (the VAEs between
samplings); one no later phase needs is dropped, and its memory with it. Nothing else in the
trainer moves components: `LTX2Model.enter_phase` applies this table and records what each
phase held (`PhaseRecord`), which is how tests check placement on a machine whose host and
device are the same memory.
"""

from __future__ import annotations

from dataclasses import dataclass

PHASES = ("text", "connectors", "clips", "train", "sample")
COMPONENTS = ("text_encoder", "connectors", "vae", "audio_vae", "vocoder", "transformer")
# The phases that may follow each one (training and sampling alternate).
LATER = {"text": ("connectors", "clips", "train", "sample"), "connectors": ("clips", "train", "sample"),
         "clips": ("train", "sample"), "train": ("train", "sample"), "sample": ("train", "sample")}

DEVICE, HOST = "device", "host"  # where a component computes in a phase


@dataclass(frozen=True)
class PhasePlan:
    """The choices a run makes once, at start-up, that the table depends on."""

    train_text_encoder: bool = False  # the connectors train: they stay with the transformer
    text_encoder_on_host: bool = False  # model.text_encoder_placement: cpu (Gemma computes on the host)
    sampling: bool = True  # the run samples: the decoders stay loaded (on the host between samplings)


def phase_components(phase: str, plan: PhasePlan) -> dict[str, str]:
    """The components `phase` uses -> where each computes (DEVICE or HOST)."""
    if phase not in PHASES:
        raise ValueError(f"unknown phase {phase!r}; phases: {', '.join(PHASES)}")
    if phase == "text":
        return {"text_encoder": HOST if plan.text_encoder_on_host else DEVICE}
    if phase == "connectors":
        return {} if plan.train_text_encoder else {"connectors": DEVICE}
    if phase == "clips":
        return {"vae": DEVICE, "audio_vae": DEVICE}
    uses = {"transformer": DEVICE}
    if plan.train_text_encoder:
        uses["connectors"] = DEVICE
    if phase == "sample":
        uses.update(vae=DEVICE, audio_vae=DEVICE, vocoder=DEVICE)
    return uses


def needed_after(phase: str, plan: PhasePlan) -> set[str]:
    """The components some phase after `phase` uses (sampling only when the run samples)."""
    later = [p for p in LATER[phase] if p != "sample" or plan.sampling]
    return {name for p in later for name in phase_components(p, plan)}


@dataclass(frozen=True)
class PhaseRecord:
    """What the adapter held when a phase began: on the compute device, on the host (loaded,
    resting or computing there), and what it freed on entering it."""

    phase: str
    on_device: tuple[str, ...]
    on_host: tuple[str, ...]
    freed: tuple[str, ...]
