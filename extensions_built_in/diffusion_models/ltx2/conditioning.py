"""How the transformer is conditioned per version, applied to every caller of it.

Two things diffusers 0.42.1 does not do the way the Lightricks reference does today:

1. **Audio<->video cross-attention modulation (2.3, 2.5).** The reference (ltx-core, since
   2026-05) takes each modality's a2v/v2a *scale/shift* from that modality's own per-token
   timesteps and the *gate* from the OTHER modality's sigma. diffusers offers only "both
   from own timesteps" (`use_cross_timestep=False`) or "both from the other sigma" (`True`,
   the 2026-03 reference). They differ whenever a modality's timesteps differ from the other's
   sigma, which is every step of this trainer: audio and video draw independent sigmas
   (SOP change L), and image-to-video holds first-frame tokens at t = 0. We follow the
   reference because it is what Lightricks trains and samples 2.3/2.5 with today, so a LoRA
   learns the conditioning it will be used with.

   Done without copying the transformer's forward: the forward runs with
   `use_cross_timestep=True` (gates from the other sigma) and a pre-hook on each modality's
   scale/shift embedder swaps its input for the modality's own per-token timesteps.

2. **The 2.5 keyframe embedding.** The reference inference marks the tokens of the first
   latent frame (which the causal VAE encodes from one pixel frame) with
   `keyframes_abs_pos_embedding` on every generation, text- or image-to-video; diffusers'
   pipelines mark nothing. We mark latent frame 0 in training and in our samples whenever the
   caller passes no mask, so the LoRA trains and samples the model as ComfyUI/reference
   inference runs it (the i2v first frame is that same latent frame: it is marked too).

Installed once per transformer by `install_conditioning`; training (`LTX2Model.predict`), the
diffusers pipelines used for samples and DDP/compile wrappers all go through the module's
call, so every caller gets the same conditioning.
"""

from __future__ import annotations

import torch

from extensions_built_in.diffusion_models.ltx2.versions import CROSS_TIMESTEP_ROUTINGS
from toolkit.errors import UserInputError


class ForwardConditioning:
    """The hooks on one transformer (kept so tests and callers can inspect the mode)."""

    def __init__(self, transformer: torch.nn.Module, routing: str, keyframe_first_frame: bool):
        if routing not in CROSS_TIMESTEP_ROUTINGS:
            raise UserInputError(f"model.model_kwargs.cross_timestep_routing '{routing}' is not one of "
                                 f"{', '.join(CROSS_TIMESTEP_ROUTINGS)}")
        self.routing = routing
        self.keyframe_first_frame = keyframe_first_frame and bool(
            getattr(transformer.config, "use_keyframes_abs_pos_embedding", False))
        self._own: tuple[torch.Tensor, torch.Tensor] | None = None
        self.handles = [
            transformer.register_forward_pre_hook(self._before_forward, with_kwargs=True),
            transformer.register_forward_hook(self._after_forward),
        ]
        if routing == "reference":
            self.handles += [
                transformer.av_cross_attn_video_scale_shift.register_forward_pre_hook(self._own_input(0)),
                transformer.av_cross_attn_audio_scale_shift.register_forward_pre_hook(self._own_input(1)),
            ]

    def remove(self) -> None:
        for handle in self.handles:
            handle.remove()

    def _before_forward(self, module, args, kwargs):
        timestep = kwargs.get("timestep")
        if self.routing != "own" and timestep is not None:
            audio_timestep = kwargs.get("audio_timestep")
            audio_timestep = timestep if audio_timestep is None else audio_timestep
            if kwargs.get("sigma") is None:
                # One sigma per sample: the per-token timesteps' maximum (conditioning tokens are 0).
                kwargs["sigma"] = timestep.reshape(timestep.shape[0], -1).amax(dim=1)
            if kwargs.get("audio_sigma") is None:
                kwargs["audio_sigma"] = audio_timestep.reshape(audio_timestep.shape[0], -1).amax(dim=1)
            kwargs["use_cross_timestep"] = True
            self._own = (timestep.flatten(), audio_timestep.flatten()) if self.routing == "reference" else None
        elif self.routing == "own":
            kwargs["use_cross_timestep"] = False
        if self.keyframe_first_frame and kwargs.get("video_keyframes_mask") is None:
            kwargs["video_keyframes_mask"] = first_frame_mask(kwargs, args)
        return args, kwargs

    def _after_forward(self, module, args, output):
        self._own = None
        return output

    def _own_input(self, index: int):
        def hook(module, args):
            if self._own is None:
                return None
            return (self._own[index],) + tuple(args[1:])

        return hook


def first_frame_mask(kwargs: dict, args: tuple) -> torch.Tensor | None:
    """(B, N, 1) float mask, 1 on the tokens of latent frame 0 (tokens are frame-major)."""
    hidden = kwargs.get("hidden_states", args[0] if args else None)
    height, width = kwargs.get("height"), kwargs.get("width")
    if hidden is None or height is None or width is None:
        return None
    mask = torch.zeros(hidden.shape[0], hidden.shape[1], 1, device=hidden.device, dtype=hidden.dtype)
    mask[:, : int(height) * int(width)] = 1
    return mask


def install_conditioning(transformer: torch.nn.Module, routing: str, keyframe_first_frame: bool) -> ForwardConditioning:
    """Install (or replace) the conditioning hooks on `transformer`."""
    previous = getattr(transformer, "_ltx2_conditioning", None)
    if previous is not None:
        previous.remove()
    conditioning = ForwardConditioning(transformer, routing, keyframe_first_frame)
    transformer._ltx2_conditioning = conditioning
    return conditioning
