"""LTX-2's model files: where they come from and whether they are whole, checked before loading; loading and writing them.

Original (Lightricks / ComfyUI) single files and LTX-2.5 split files, and diffusers folders:
- `source_checks.model_source_problems`: a config's model source checked without loading it or
  importing torch (`--validate`, `--check`, start-up); `folder_checks`: whether a diffusers
  folder's components hold their weight files;
- `load_components(version, paths, configs)`: files -> diffusers/transformers modules;
- `resolve_model_files(version, name_or_path, model_kwargs)`: config values -> file paths;
- `write_single_file`, `write_split_files`: modules -> files (`python -m extensions_built_in.diffusion_models.ltx2.weights.write`);
- `errors.ModelFileError`: the one user-facing error (exit code 2).

Each name above lives in its own module (load.py, resolve.py, write.py; source_checks.py and
folder_checks.py are torch-free, load and write import torch). Key renames live in keys_*.py (one per component family), file layout in layout.py.
Users: docs/models.md (the three layouts); developers: docs/model_files.md.
"""
