"""Holding a large model in little memory: weight-only quantization, layer offloading, attention kernels, quantized-tensor and dtype names."""
