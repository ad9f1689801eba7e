"""Speaker consistency of a dataset: does every clip hold the same voice as the rest?

Each clip's speech is embedded (toolkit/voice/reference.py: the same per-clip embeddings the
voice metric uses, cached in ``_latent_cache/reference_voice.json`` when the dataset caches
latents to disk), and each clip is scored against the speech-weighted mean voice of all the
*other* clips (leave one out, so a clip does not vouch for itself). A clip is an outlier when
its score is below ``OUTLIER_SCORE`` or more than ``OUTLIER_DROP`` under the set's median:
another speaker, several speakers, or music under the voice.

`run.py CONFIG --check` prints these lines per dataset (a note, not a failure: the data can
train, but an outlier teaches another voice). Needs the voice scorer's packages (silero-vad,
resemblyzer); without them the check says so and goes on.
"""

from __future__ import annotations

import numpy as np

from toolkit.voice.reference import ClipVoice, dataset_clip_voices
from toolkit.voice.similarity import SpeakerEncoder, VoiceScorerUnavailable, cosine, mean_voice

OUTLIER_SCORE = 0.70
OUTLIER_DROP = 0.15
MIN_CLIPS = 3  # with fewer clips with speech "the rest of the set" is one clip
LISTED = 40  # clips named one by one; beyond, the lowest and the outliers


def leave_one_out(clips: list[ClipVoice]) -> list[tuple[str, float]]:
    """(path, score against the mean voice of the other clips with speech) per clip with speech."""
    used = [c for c in clips if c.vector is not None]
    vectors = [np.asarray(c.vector, np.float32) for c in used]
    scores = []
    for k, clip in enumerate(used):
        rest = mean_voice(vectors[:k] + vectors[k + 1:], [c.speech_s for c in used[:k] + used[k + 1:]])
        scores.append((clip.path, round(cosine(vectors[k], rest), 3)))
    return scores


def outliers(scores: list[tuple[str, float]]) -> list[tuple[str, float]]:
    if not scores:
        return []
    median = float(np.median([s for _, s in scores]))
    return [(p, s) for p, s in scores if s < OUTLIER_SCORE or s < median - OUTLIER_DROP]


class _Quiet:
    def info(self, _msg: str) -> None:
        pass

    def warning(self, msg: str) -> None:
        print(f"  note: {msg}")


def consistency_lines(ds) -> list[str]:
    """The --check lines for one dataset config (a DatasetConfig)."""
    if not ds.do_audio or ds.num_frames <= 1:
        return []
    try:
        encoder = SpeakerEncoder()
    except VoiceScorerUnavailable as exc:
        return [f"  speaker consistency: not checked ({exc})"]
    clips, _ = dataset_clip_voices(ds.folder_path, encoder, ds.cache_latents_to_disk, _Quiet(),
                                   caption_ext=ds.caption_ext, default_caption=ds.default_caption)
    scores = leave_one_out(clips)
    if len(scores) < MIN_CLIPS:
        return [f"  speaker consistency: not checked ({len(scores)} clips with speech; it needs {MIN_CLIPS})"]
    median = float(np.median([s for _, s in scores]))
    bad = outliers(scores)
    names = {p: p.rsplit("/", 1)[-1] for p, _ in scores}
    ordered = sorted(scores, key=lambda item: item[1])
    shown = ordered if len(ordered) <= LISTED else ordered[:LISTED]
    lines = [f"  speaker consistency (each clip's voice vs the rest of the set): {len(scores)} clips, median "
             f"{median:.2f}, lowest {ordered[0][1]:.2f}",
             "    per clip: " + ", ".join(f"{names[p]} {s:.2f}" for p, s in shown)
             + (f" (the {len(ordered) - LISTED} highest left out)" if len(ordered) > LISTED else "")]
    if bad:
        lines.append(f"  speaker outliers ({len(bad)}: below {OUTLIER_SCORE:.2f} or {OUTLIER_DROP:.2f} under the median; "
                     "another voice, several voices or music under the voice; listen to them and remove or replace them):")
        lines += [f"    {p}: {s:.2f}" for p, s in sorted(bad, key=lambda item: item[1])]
    else:
        lines.append("  speaker outliers: none")
    return lines
