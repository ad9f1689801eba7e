"""Where each component's tensors live: one original single file, or LTX-2.5's split files.

File roles (the keys of the `paths` mapping given to the loader):

    checkpoint     one original file: DiT + connectors (`model.diffusion_model.*`), text
                   projection (`text_embedding_projection.*`), `vae.*`, `audio_vae.*`, `vocoder.*`
    dit            2.5 `diffusion_models/…-transformer-….safetensors`: `model.diffusion_model.*`
    text_encoder   2.5 `text_encoders/gemma4-…-with-proj-….safetensors`: Gemma (`model.*`),
                   `text_embedding_projection.*`, tokenizer assets, `gemma_config` metadata
    video_vae      2.5 `vae/…-video-vae-conv-….safetensors`: video VAE keys without prefix
    audio_vae      2.5 `vae/…-audio-vae-….safetensors`: `audio_vae.*` and `vocoder.*`

A key is looked up in its split file first, then in the single file, so a single file with
one component overridden by its own file works too.
"""

from __future__ import annotations

from extensions_built_in.diffusion_models.ltx2.weights.keys_dit import DIT_PREFIX, TEXT_PROJECTION_PREFIX
from extensions_built_in.diffusion_models.ltx2.weights.keys_gemma import text_encoder_alternatives
from extensions_built_in.diffusion_models.ltx2.weights.keys_vae import VIDEO_VAE_PREFIX

ROLES = ("checkpoint", "dit", "text_encoder", "video_vae", "audio_vae")
ROLE_DESCRIPTION = {"checkpoint": "model", "dit": "transformer (DiT)", "text_encoder": "text encoder",
                    "video_vae": "video VAE", "audio_vae": "audio VAE + vocoder"}
# model_kwargs key that overrides each split file (ai-toolkit's names)
OVERRIDE_KEY = {"dit": "dit_path", "text_encoder": "text_encoder_path",
                "video_vae": "video_vae_path", "audio_vae": "audio_vae_path"}

# The files of the 2.5 split pack, relative to a ComfyUI models folder (bf16: the ones this
# trainer loads without a quantization backend).
SPLIT_FILES_25 = {
    "dit": "diffusion_models/ltx-2.5-22b-dev-transformer-bf16.safetensors",
    "text_encoder": "text_encoders/gemma4-12b-with-proj-ltx-2.5-bf16.safetensors",
    "video_vae": "vae/ltx-2.5-video-vae-conv-bf16.safetensors",
    "audio_vae": "vae/ltx-2.5-audio-vae-bf16.safetensors",
}
HUB_REPO = {"2.0": "Lightricks/LTX-2", "2.3": "Lightricks/LTX-2.3", "2.5": "Lightricks/LTX-2.5"}
# The released single files. LTX-2.5 is released only as split files; a unified 2.5 file (one
# the LTX trainer or our writer makes) has no release name, so ours is only a default for writing.
SINGLE_FILE = {"2.0": "ltx-2-19b-dev.safetensors", "2.3": "ltx-2.3-22b-dev.safetensors"}
UNIFIED_FILE_25 = "ltx-2.5-22b-unified.safetensors"
# Where the fp8 single files are published (the dev repos hold bf16 only from 2.3 on).
FP8_FILES = {"2.0": "Lightricks/LTX-2 (ltx-2-19b-dev-fp8.safetensors)",
             "2.3": "Lightricks/LTX-2.3-fp8 (ltx-2.3-22b-dev-fp8.safetensors)"}


def single_file_name(version: str) -> str:
    """The file name a single file of `version` is written under (the release name where one exists)."""
    return SINGLE_FILE.get(version, UNIFIED_FILE_25)

# The 2.5 pack's default video VAE file has a diffusion decoder diffusers cannot load as a conv VAE;
# its encoder is the conv VAE's, so only its decoder keys tell it apart (ComfyUI's test: this key).
DIFFUSION_DECODER_KEY = "decoder.conv_in_x_t.weight"
DIFFUSION_DECODER_HINT = ("it is LTX-2.5's diffusion-decoder video VAE (it has decoder.conv_in_x_t); the trainer "
                          "needs the conv decoder file vae/ltx-2.5-video-vae-conv-bf16.safetensors")


def split_role(component: str, original_key: str) -> str:
    """The split file that holds this key of `component`."""
    if component == "connectors" and original_key.startswith(TEXT_PROJECTION_PREFIX):
        return "text_encoder"
    return {"transformer": "dit", "connectors": "dit", "vae": "video_vae", "audio_vae": "audio_vae",
            "vocoder": "audio_vae", "text_encoder": "text_encoder"}[component]


def component_roles(component: str) -> tuple[str, ...]:
    """Every file role that may hold tensors of `component`, in lookup order."""
    if component == "connectors":
        return ("dit", "text_encoder", "checkpoint")
    return (split_role(component, ""), "checkpoint")


def key_in_file(role: str, original_key: str) -> str:
    """How the writer spells an original key inside a file of this role."""
    if role == "video_vae" and original_key.startswith(VIDEO_VAE_PREFIX):
        return original_key[len(VIDEO_VAE_PREFIX):]
    return original_key


def spellings(role: str, original_key: str) -> list[str]:
    """Every spelling of an original key that the reader accepts in a file of this role."""
    out = [key_in_file(role, original_key), original_key]
    if original_key.startswith(TEXT_PROJECTION_PREFIX):
        out.append(DIT_PREFIX + original_key)  # some single files keep it under the DiT prefix
    if original_key.startswith("model.") and not original_key.startswith(DIT_PREFIX):
        out += text_encoder_alternatives(original_key)
    return list(dict.fromkeys(out))

