"""The LoRA tools' operations, the one module of lora_files/ that toolkit/ reaches: the family
names it (`ModelFamily.lora_file_tools`) and `python -m toolkit.lora_tools` imports it through
toolkit/family/registry.py. Each tool lives in its own module; this one only gathers them.
"""

from extensions_built_in.diffusion_models.ltx2.lora_files.base_weights import BaseWeights
from extensions_built_in.diffusion_models.ltx2.lora_files.convert import convert
from extensions_built_in.diffusion_models.ltx2.lora_files.facts import facts, render, to_json
from extensions_built_in.diffusion_models.ltx2.lora_files.key_format import BY_NAME, WRITABLE
from extensions_built_in.diffusion_models.ltx2.lora_files.lora_file import read_lora
from extensions_built_in.diffusion_models.ltx2.lora_files.merge import merge
from extensions_built_in.diffusion_models.ltx2.lora_files.modality import split, strip_audio
from extensions_built_in.diffusion_models.ltx2.lora_files.resize import resize

__all__ = ["BY_NAME", "WRITABLE", "BaseWeights", "convert", "facts", "merge", "read_lora", "render", "resize",
           "split", "strip_audio", "to_json"]
