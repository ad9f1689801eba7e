"""The optimizer's parameter groups: one, or the audio side apart (`train.audio_lr`).

Without `audio_lr` the optimizer gets one list of parameters, exactly as before (and as an
ai-toolkit config expects). With it there are always two named groups, "video" (every
other trainable parameter: video modules, text connectors) and "audio" (the audio-side
modules, toolkit.lora.network.is_audio_module), so the optimizer state keeps one layout for the
whole run and a resume loads it group for group; the learning-rate schedule applies to each
group from its own starting rate (toolkit/train/optimizers.build_scheduler).
"""

from __future__ import annotations

GROUP_NAMES = ("video", "audio")


def optimizer_params(network, lr: float, audio_lr: float | None) -> list:
    """What `build_optimizer` gets: the plain parameter list, or two named groups."""
    if audio_lr is None:
        return network.parameters()
    other, audio = network.parameter_groups()
    return [{"params": other, "lr": lr, "name": GROUP_NAMES[0]},
            {"params": audio, "lr": audio_lr, "name": GROUP_NAMES[1]}]


def group_lrs(optimizer) -> dict[str, float]:
    """The learning rate each group steps with now, for metrics: {"lr": ...} and, with an
    audio group, {"audio_lr": ...}."""
    groups = optimizer.param_groups
    rates = {"lr": groups[0]["lr"]}
    if len(groups) > 1 and groups[1].get("name") == GROUP_NAMES[1]:
        rates["audio_lr"] = groups[1]["lr"]
    return rates
