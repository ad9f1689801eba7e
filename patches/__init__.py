"""The patch that adds this trainer to an existing ai-toolkit checkout (docs/ai-toolkit.md)."""
