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

    def update(self, audio_loss: float, video_loss: float | None) -> float:
        """Feed one step's raw losses; returns the multiplier to apply this step. A step
        that scored no video (audio-only items, video-to-audio) passes None: only the audio
        EMA moves, and until a video loss has been seen the multiplier stays 1."""
        a = self.alpha
        if self.ema_audio is None or (video_loss is not None and self.ema_video is None):
            if self.ema_audio is None:
                self.ema_audio = float(audio_loss)
            else:
                self.ema_audio = a * self.ema_audio + (1 - a) * float(audio_loss)
            if video_loss is not None:
                self.ema_video = float(video_loss)
            return self.multiplier
        self.ema_audio = a * self.ema_audio + (1 - a) * float(audio_loss)
        if video_loss is not None:
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
