"""LTX-2 weight files: original (Lightricks / ComfyUI) single files and LTX-2.5 split files.

- `load_components(version, paths, configs)`: files -> diffusers/transformers modules;
- `resolve_model_files(version, name_or_path, model_kwargs)`: config values -> file paths;
- `write_single_file`, `write_split_files`: modules -> files (`python -m toolkit.model_files.write`);
- `ModelFileError`: the one user-facing error (exit code 2).

Key renames live in keys_*.py (one per component family), file layout in layout.py.
See docs/model_files.md for users.
"""

from toolkit.model_files.errors import ModelFileError
from toolkit.model_files.load import load_components
from toolkit.model_files.resolve import resolve_model_files
from toolkit.model_files.write import write_single_file, write_split_files

__all__ = ["ModelFileError", "load_components", "resolve_model_files", "write_single_file", "write_split_files"]
