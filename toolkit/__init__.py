"""The trainer's library: everything that is not one model adapter or the UI."""

import logging
import os

# torchao probes optional CUDA kernels at import time and prints a failure per file on a
# CPU-only torch; those kernels are never used here, so skip the probe (documented knob).
os.environ.setdefault("TORCHAO_FORCE_SKIP_LOADING_SO_FILES", "1")


class _KnownNoise(logging.Filter):
    """Drops start-up lines that say nothing to a user and bury the warnings that do:
    torchao's notice that it skipped its kernels (our own setting above), torch's deprecation
    note for the enums torchao registers with pytree (torchao's to fix), diffusers' notice
    that it cannot allow-list some torchao tensor types for loading checkpoints torchao
    serialised (we quantize after loading and never read such files), and diffusers' note on
    casting a model whose list of float32-only modules is empty (nothing to keep)."""

    LINES = ("Skipping import of cpp extensions due to TORCHAO_FORCE_SKIP_LOADING_SO_FILES",
             "is an Enum subclass and is now natively supported by torch.compile",
             "Unable to import `torchao` Tensor objects",
             "that should be kept in float32: []. Casting directly")

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not any(line in message for line in self.LINES)


for _name in ("torchao", "torch.utils._pytree", "diffusers.quantizers.torchao.torchao_quantizer",
              "diffusers.models.modeling_utils"):
    logging.getLogger(_name).addFilter(_KnownNoise())
