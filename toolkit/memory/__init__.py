"""Holding a large model in little memory: weight-only quantization, layer offloading,
attention kernel selection, and the one helper that recognises quantized tensors."""
