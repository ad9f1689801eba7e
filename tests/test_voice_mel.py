"""The numpy mel filter bank (toolkit/voice/mel.py) is transformers' (librosa's Slaney bank)
to the last float32 bit, so speaker embeddings did not change when --check stopped needing
transformers."""

import numpy as np
from transformers.audio_utils import mel_filter_bank

from toolkit.voice.mel import slaney_mel_bank


def test_mel_bank_equals_transformers():
    for n_freqs, n_mels, rate in ((201, 40, 16000), (513, 80, 22050)):
        ours = slaney_mel_bank(n_freqs, n_mels, 0.0, rate / 2, rate).astype(np.float32)
        theirs = mel_filter_bank(n_freqs, n_mels, 0.0, rate / 2, rate, norm="slaney", mel_scale="slaney")
        assert np.array_equal(ours, theirs.astype(np.float32))
