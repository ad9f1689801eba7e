"""LTX-2 voice trainer as an ai-toolkit extension (`type: ltx2_voice_trainer`).

ai-toolkit imports every package under its `extensions/` folder and reads
`AI_TOOLKIT_EXTENSIONS`: classes with a unique `uid` and a `get_process()` classmethod
that returns the process class. Nothing here imports ai-toolkit (or the trainer): both
ship a top-level package named `toolkit`, so the trainer runs in its own interpreter,
as a child process (see process.py).
"""


class LTX2VoiceTrainerExtension:
    """Registers the process type `ltx2_voice_trainer`."""

    uid = "ltx2_voice_trainer"
    name = "LTX-2 Voice Trainer"

    @classmethod
    def get_process(cls):
        # Imported here, as ai-toolkit's own extensions do, so discovery stays cheap.
        from .process import LTX2VoiceTrainerProcess  # noqa: PLC0415 (ai-toolkit imports every extension at its start: the process loads only when a job runs)

        return LTX2VoiceTrainerProcess


AI_TOOLKIT_EXTENSIONS = [LTX2VoiceTrainerExtension]
