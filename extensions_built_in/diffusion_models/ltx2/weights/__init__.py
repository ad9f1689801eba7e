"""LTX-2's model files: where they come from and whether they are whole, checked before loading; loading and writing them.

Original (Lightricks / ComfyUI) single files and LTX-2.5 split files, and diffusers folders:
- `source_checks.model_source_problems`: a config's model source checked without loading it or
  importing torch (`--validate`, `--check`, start-up); `folder_checks`: whether a diffusers
  folder's components hold their weight files;
- `load_components(version, paths, configs)`: files -> diffusers/transformers modules;
- `resolve_model_files(version, name_or_path, model_kwargs)`: config values -> file paths;
- `write_single_file`, `write_split_files`: modules -> files (`python -m extensions_built_in.diffusion_models.ltx2.weights.write`);
- `ModelFileError`: the one user-facing error (exit code 2).

Key renames live in keys_*.py (one per component family), file layout in layout.py.
Users: docs/models.md (the three layouts); developers: docs/model_files.md.
"""

import importlib

from extensions_built_in.diffusion_models.ltx2.weights.errors import ModelFileError

# Imported on first use: `resolve` (what preflight and --check need) must not pull in torch,
# which `load` and `write` do.
_LAZY = {"load_components": "load", "resolve_model_files": "resolve", "write_single_file": "write",
         "write_split_files": "write"}

__all__ = ["ModelFileError", *_LAZY]


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(f"extensions_built_in.diffusion_models.ltx2.weights.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'extensions_built_in.diffusion_models.ltx2.weights' has no attribute {name!r}")
