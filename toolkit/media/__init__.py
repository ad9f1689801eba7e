"""Media files in and out: decoding video and audio (PyAV), their geometry and channels, writing mp4 and wav, thumbnails."""
