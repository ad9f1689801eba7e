"""The voice, which means speech everywhere: speech detection, the reference voice, speaker similarity and the voice metric."""
