"""The audio-loss balancer (SOP changes B, Z, AQ).

EMAs (alpha 0.99) of the raw audio and video losses give a multiplier that brings the
scaled audio loss to `target_ratio` x video loss, clamped to [0.05, 20] in both directions:
LTX-2's raw audio loss is usually larger than its video loss, so the multiplier must be able
to go below 1 (the v3.12 fix). Its state is saved with checkpoints so a resume is exact.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class AudioLossBalancer:
    target_ratio: float = 0.33
    alpha: float = 0.99
    min_multiplier: float = 0.05
    max_multiplier: float = 20.0
    ema_audio: float | None = None
    ema_video: float | None = None

    def update(self, audio_loss: float, video_loss: float) -> float:
        """Feed one step's raw losses; returns the multiplier to apply this step."""
        if self.ema_audio is None or self.ema_video is None:
            self.ema_audio, self.ema_video = float(audio_loss), float(video_loss)
        else:
            a = self.alpha
            self.ema_audio = a * self.ema_audio + (1 - a) * float(audio_loss)
            self.ema_video = a * self.ema_video + (1 - a) * float(video_loss)
        return self.multiplier

    @property
    def multiplier(self) -> float:
        if self.ema_audio is None or self.ema_video is None or self.ema_audio <= 0:
            return 1.0
        raw = self.target_ratio * self.ema_video / self.ema_audio
        return max(self.min_multiplier, min(self.max_multiplier, raw))

    def state_dict(self) -> dict:
        return {"ema_audio": self.ema_audio, "ema_video": self.ema_video}

    def load_state_dict(self, state: dict) -> None:
        self.ema_audio = state.get("ema_audio")
        self.ema_video = state.get("ema_video")
