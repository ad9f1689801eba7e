"""From long footage to a voice training folder: shots, pause-bounded windows, speaker check, transcripts in captions.

`python -m toolkit.prepare SOURCE OUT --trigger NAME` (docs/prepare.md). The steps, one module
each: shots.py (cuts from decoded frames), toolkit/voice/speech_segments.py (speech and
pauses, Silero VAD), windows.py (where clips go), speakers.py (whose voice, the reference),
toolkit/voice/transcribe.py (Whisper or pocketsphinx), captions.py, clips.py (cutting),
state.py (what is kept between runs), pipeline.py (the order), __main__.py (the command).
"""
