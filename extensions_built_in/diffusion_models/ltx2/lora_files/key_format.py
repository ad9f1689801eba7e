"""The LoRA file format the LoRA tools read and write: the family's LoRA key knowledge
(lora_format/, the parts its `ModelFamily.lora_format` hands toolkit/), under the names the
tools use. The one place lora_files/ meets the key names; the network gets its key namer from
the model.
"""

from extensions_built_in.diffusion_models.ltx2.lora_format import comfy_rules as _comfy
from extensions_built_in.diffusion_models.ltx2.lora_format import families as _families
from extensions_built_in.diffusion_models.ltx2.lora_format import modules as _modules
from extensions_built_in.diffusion_models.ltx2.lora_format import namings as _namings
from extensions_built_in.diffusion_models.ltx2.weights import keys_dit as _keys

# What each key of a file is called by each trainer, and the namings a tool may write.
ALPHA, COMFYUI, DIFFUSERS, MUSUBI = _namings.ALPHA, _namings.COMFYUI, _namings.DIFFUSERS, _namings.MUSUBI
DORA_SCALE, MAGNITUDE, LOKR_ROLES = _namings.DORA_SCALE, _namings.MAGNITUDE, _namings.LOKR_ROLES
LORA_A, LORA_B = _namings.LORA_A, _namings.LORA_B
NAMING_LABELS, WRITABLE = _namings.NAMING_LABELS, _namings.WRITABLE
KeyName, NotNameable = _namings.KeyName, _namings.NotNameable
PLACE_COMFYUI, PLACE_COMFYUI_TE = _namings.PLACE_COMFYUI, _namings.PLACE_COMFYUI_TE
PLACE_DIFFUSERS, PLACE_DIFFUSERS_COPY = _namings.PLACE_DIFFUSERS, _namings.PLACE_DIFFUSERS_COPY
PLACE_KOHYA, PLACE_MUSUBI = _namings.PLACE_KOHYA, _namings.PLACE_MUSUBI
key_names, metadata_version, naming_of = _namings.key_names, _namings.metadata_version, _namings.naming_of
parse_key, producer_of, split_suffix = _namings.parse_key, _namings.producer_of, _namings.split_suffix

# Which stream (video, audio) each adapted layer writes, and the layer families.
AUDIO, VIDEO, BY_NAME, FAMILIES, family_of = (_families.AUDIO, _families.VIDEO, _families.BY_NAME,
                                              _families.FAMILIES, _families.family_of)

# The layers a LoRA may adapt, and the versions a file's layers imply.
ALL_VERSIONS, TRANSFORMER = _modules.ALL_VERSIONS, _modules.TRANSFORMER
implied_versions, split_module = _modules.implied_versions, _modules.split_module

# ComfyUI's loader rules, and the transformer's renames from diffusers to original names.
CLIP, comfy_homes, comfy_load = _comfy.CLIP, _comfy.comfy_homes, _comfy.comfy_load
comfy_state_keys, lora_key_map = _comfy.comfy_state_keys, _comfy.lora_key_map
DIT_PREFIX, connectors_key, transformer_key = _keys.DIT_PREFIX, _keys.connectors_key, _keys.transformer_key
