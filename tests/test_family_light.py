"""The model family seam (issue 26): toolkit/ finds the LTX-2 family through its registry, the
family's light half imports no torch, and the model hands the network its key namer."""

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "diffusers", "transformers", "safetensors", "peft")


def test_the_light_half_and_what_validate_reads_import_no_torch():
    """A fresh interpreter imports the family's light module through the registry, and the modules
    `--validate`, `--check` and the config schema use, and asks the family something of each
    part: no heavy package is loaded."""
    code = (
        "import json, sys\n"
        "from toolkit.family.registry import default_family, family_for_arch, families\n"
        "import toolkit.config_modules, toolkit.run.preflight, toolkit.memory.sizes\n"
        "import extensions_built_in.diffusion_models.ltx2.lora_files.key_format\n"
        "f = family_for_arch('LTX-2.3')\n"
        "out = dict(names=sorted(families()), arch=f.normalise_arch('LTX-2.3'), default=f.default_arch,\n"
        "           problems=f.model_source_problems(type('M', (), dict(arch='ltx2', name_or_path='/nowhere',\n"
        "               te_name_or_path=None, extras_name_or_path=None,\n"
        "               model_kwargs=type('K', (), dict(file_paths=lambda self: {}))()))()),\n"
        "           key=f.lora_file_keys('transformer.transformer_blocks.0.attn1.to_q.lora_A.weight', False)[0][0],\n"
        f"           heavy=[m for m in {HEAVY!r} if m in sys.modules])\n"
        "print(json.dumps(out))\n")
    ran = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    out = json.loads(ran.stdout.strip().splitlines()[-1])
    assert out["heavy"] == [], f"the light half loaded {out['heavy']}"
    assert out["names"] == ["ltx2"] and out["arch"] == "ltx2.3" and out["default"] == "ltx2"
    assert out["problems"] and out["problems"][0][0] == "model.name_or_path" and "/nowhere" in out["problems"][0][1]
    assert out["key"] == "diffusion_model.transformer_blocks.0.attn1.to_q.lora_A.weight"


def test_the_model_hands_the_network_the_family_key_namer():
    from extensions_built_in.diffusion_models.ltx2.lora_format.lora_read import from_comfy_state_dict
    from extensions_built_in.diffusion_models.ltx2.ltx2 import LTX2Model
    from toolkit.family.registry import default_family

    assert LTX2Model.lora_key_namer.file_keys is default_family().lora_file_keys
    assert LTX2Model.lora_key_namer.from_file is from_comfy_state_dict
    assert default_family().heavy == LTX2Model.__module__
