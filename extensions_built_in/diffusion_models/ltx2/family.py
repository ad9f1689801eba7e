"""The LTX-2 family's light half (toolkit/family/interface.py): the version table, the rules for
where the model comes from, the real sizes, the LoRA key knowledge. No torch: `--validate`,
`--check`, start-up and the config schema read it through toolkit/family/registry.py, and
tests/test_family_light.py holds it to importing no torch, diffusers or transformers.
"""

from __future__ import annotations

from extensions_built_in.diffusion_models.ltx2 import real_configs
from extensions_built_in.diffusion_models.ltx2.lora_format.lora_keys import comfy_file_keys
from extensions_built_in.diffusion_models.ltx2.versions import DEFAULT_ARCH, VERSIONS, normalise_arch
from extensions_built_in.diffusion_models.ltx2.weights import source_checks
from toolkit.family.interface import ModelFamily

FAMILY = ModelFamily(
    name="ltx2",
    versions=VERSIONS,
    default_arch=DEFAULT_ARCH,
    normalise_arch=normalise_arch,
    model_source_problems=source_checks.model_source_problems,
    describe_model_source=source_checks.describe_model_source,
    hub_download_notes=source_checks.hub_download_notes,
    run_transformer_config=real_configs.run_transformer_config,
    run_component_sizes=real_configs.run_component_sizes,
    real_sizes=real_configs,
    lora_file_keys=comfy_file_keys,
    lora_file_tools="extensions_built_in.diffusion_models.ltx2.lora_files.tools",
    heavy="extensions_built_in.diffusion_models.ltx2.ltx2",
)
