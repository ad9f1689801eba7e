"""Memory estimation: what a run holds on its device and in host memory, and the settings that fit a card."""
