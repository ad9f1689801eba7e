"""The adapter reads original weight files: one single file with the text side from
te_name_or_path, LTX-2.5 split files, and one clear error naming the component, the file and
where it was looked for when something is missing. The tiny files hold the same weights as the
tiny diffusers folders (same seed), so the loaded model must match the folder's exactly."""

from __future__ import annotations

import shutil

import pytest
import torch
from numerics import assert_outputs_match
from safetensors import safe_open
from safetensors.torch import save_file

from extensions_built_in.diffusion_models.ltx2.ltx2 import LTX2Model, LTX2Settings
from extensions_built_in.diffusion_models.ltx2.versions import SCHEDULER_CONFIG, VERSIONS
from extensions_built_in.diffusion_models.ltx2.weights.layout import SINGLE_FILE, SPLIT_FILES_25
from toolkit.errors import UserInputError
from toolkit.memory.aligned import unaligned_tensors


def _settings(arch, **kw):
    return LTX2Settings(version=VERSIONS[arch], gradient_checkpointing=False, **kw)


def _same_model(model, reference):
    for name in ("transformer", "connectors", "vae", "audio_vae", "vocoder"):
        mine, theirs = getattr(model, name).state_dict(), getattr(reference, name).state_dict()
        assert mine.keys() == theirs.keys(), name
        assert all(torch.equal(mine[k], theirs[k]) for k in mine), name
        # a CPU run computes on them: 64-byte aligned whatever the file's offsets (issue 22)
        assert not unaligned_tensors(getattr(model, name)) and not unaligned_tensors(getattr(reference, name)), name
    a, b = model.encode_prompts(["a red circle"]), reference.encode_prompts(["a red circle"])
    # two loads, two places in memory: equal up to the kernels' summation order (tests/numerics.py)
    assert_outputs_match(a.video, b.video, "video prompt embeddings")
    assert_outputs_match(a.audio, b.audio, "audio prompt embeddings")


@pytest.mark.numerics
def test_single_file_with_the_text_side_from_te_name_or_path(tiny_files, tiny_version_dir):
    folder = tiny_files("2.3")
    single = folder / SINGLE_FILE["2.3"]
    with pytest.raises(UserInputError) as missing:
        LTX2Model.load(str(single), _settings("ltx2.3"))
    text = str(missing.value)
    assert "the text_encoder was not found" in text and str(single) in text
    assert "model.te_name_or_path" in text and "model.extras_name_or_path" in text

    model = LTX2Model.load(str(single), _settings("ltx2.3", te_name_or_path=str(folder)))
    assert model.source == str(single)
    _same_model(model, LTX2Model.load(str(tiny_version_dir("2.3")), _settings("ltx2.3")))
    # the scheduler: not in the file, not in te_name_or_path's place list: the release config
    assert {k: model.scheduler.config[k] for k in SCHEDULER_CONFIG} == SCHEDULER_CONFIG


def test_split_files_hold_the_text_side_and_model_kwargs_win(tiny_files, tiny_version_dir, tmp_path):
    models = tiny_files("2.5", "split")
    moved = tmp_path / "elsewhere" / "audio.safetensors"
    moved.parent.mkdir()
    copy = tmp_path / "models"
    shutil.copytree(models, copy)
    shutil.move(copy / SPLIT_FILES_25["audio_vae"], moved)
    with pytest.raises(UserInputError) as missing:
        LTX2Model.load(str(copy), _settings("ltx2.5"))
    assert "audio VAE + vocoder file vae/ltx-2.5-audio-vae-bf16.safetensors" in str(missing.value)
    assert str(copy) in str(missing.value) and "model.model_kwargs.audio_vae_path" in str(missing.value)

    model = LTX2Model.load(str(copy), _settings("ltx2.5", file_paths={"audio_vae_path": str(moved)},
                                                 quantize_te=True, qtype_te="qint8"))
    assert type(model.text_encoder).__name__ == "Gemma4UnifiedTextModel"  # the file's text-only Gemma 4
    assert any(note.startswith("quantized") and "text encoder" in note for note in model.memory_notes)
    reference = LTX2Model.load(str(tiny_version_dir("2.5")), _settings("ltx2.5"))
    for name in ("transformer", "vocoder"):
        mine, theirs = getattr(model, name).state_dict(), getattr(reference, name).state_dict()
        assert all(torch.equal(mine[k], theirs[k]) for k in theirs), name
    ids, _ = model.tokenize(["a red circle"])
    assert torch.equal(ids, reference.tokenize(["a red circle"])[0])  # tokenizer embedded in the file


def test_split_files_from_the_hugging_face_cache(tiny_files, tmp_path, monkeypatch):
    """`name_or_path: Lightricks/LTX-2.5` reads the pack's files where huggingface-cli puts them."""
    repo = tmp_path / "hub" / "models--Lightricks--LTX-2.5"
    revision = "0123456789abcdef0123456789abcdef01234567"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(revision)
    for rel in SPLIT_FILES_25.values():
        (repo / "snapshots" / revision / rel).parent.mkdir(parents=True, exist_ok=True)
        (repo / "snapshots" / revision / rel).symlink_to(tiny_files("2.5", "split") / rel)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    model = LTX2Model.load("Lightricks/LTX-2.5", _settings("ltx2.5"))
    assert model.source == str(repo / "snapshots" / revision / SPLIT_FILES_25["dit"])
    assert model.transformer.config.use_keyframes_abs_pos_embedding


def test_original_files_without_our_metadata_are_built_from_the_version_table(tiny_files, tmp_path):
    """Lightricks' files record no diffusers config: the table's real (full-size) config builds
    the component, so the tiny tensors do not fit and the error names the file and the shapes."""
    single = tiny_files("2.0") / SINGLE_FILE["2.0"]
    bare = tmp_path / SINGLE_FILE["2.0"]
    with safe_open(str(single), framework="pt") as f:
        save_file({k: f.get_tensor(k) for k in f.keys()}, str(bare), metadata={"model_version": "2.0.0"})
    with pytest.raises(UserInputError, match=rf"{bare}.* has model\.diffusion_model\.\S+ with shape .* the config needs"):
        LTX2Model.load(str(bare), _settings("ltx2", te_name_or_path=str(tiny_files("2.0"))))


def test_file_paths_that_cannot_apply_are_named(tiny_version_dir, tiny_files):
    folder = str(tiny_version_dir("2.3"))
    with pytest.raises(UserInputError, match=r"'/m/gemma\.safetensors' not found"):
        LTX2Model.load(folder, _settings("ltx2.3", te_name_or_path="/m/gemma.safetensors"))
    dit = str(tiny_files("2.5", "split") / SPLIT_FILES_25["dit"])
    with pytest.raises(UserInputError, match=r"model\.model_kwargs\.dit_path names a weight file, but "
                                             r"model\.name_or_path .* is a diffusers-format folder"):
        LTX2Model.load(str(tiny_version_dir("2.5")), _settings("ltx2.5", file_paths={"dit_path": dit}))


@pytest.mark.parametrize("layout", ["comfyui", "hf"])
def test_gemma3_single_file_as_te_name_or_path(layout, tiny_files, tmp_path):
    """ComfyUI's Gemma 3 file (flat `model.*`, no config, no tokenizer) or a file of transformers'
    multimodal Gemma 3 (`model.language_model.*`, vision tower too) as te_name_or_path on 2.3:
    the tokenizer and config come from extras_name_or_path, and prompts encode as with the folder."""
    from extensions_built_in.diffusion_models.ltx2.weights.write import write_text_encoder_file

    folder = tiny_files("2.3")
    single = str(folder / SINGLE_FILE["2.3"])
    reference = LTX2Model.load(single, _settings("ltx2.3", te_name_or_path=str(folder)))
    gemma = tmp_path / "gemma_3_12B_it.safetensors"
    if layout == "comfyui":
        write_text_encoder_file(reference.text_encoder, "2.3", gemma, record_config=False)
    else:  # the text encoder is loaded as its language model alone: its keys under the multimodal prefix
        save_file({f"model.language_model.{k}": v.clone() for k, v in reference.text_encoder.state_dict().items()},
                  str(gemma))
    from extensions_built_in.diffusion_models.ltx2.weights.source_checks import model_source_problems
    from toolkit.config_modules import ModelConfig

    problems = model_source_problems(ModelConfig(name_or_path=single, arch="ltx2.3", te_name_or_path=str(gemma)))
    assert [key for key, _ in problems] == ["model.extras_name_or_path"]  # --check names the missing tokenizer
    assert "holds no tokenizer" in problems[0][1]
    extras = tmp_path / "extras"  # what a user downloads besides the file: tokenizer/ + text_encoder/config.json
    shutil.copytree(folder / "tokenizer", extras / "tokenizer")
    problems = model_source_problems(ModelConfig(name_or_path=single, arch="ltx2.3", te_name_or_path=str(gemma),
                                                 extras_name_or_path=str(extras)))
    assert [key for key, _ in problems] == ["model.extras_name_or_path"]  # and --check the missing configuration
    assert "holds no configuration" in problems[0][1] and "text_encoder/config.json" in problems[0][1]
    with pytest.raises(UserInputError, match=r"Gemma 3 weight file without its configuration.*"
                                             r"text_encoder/config\.json"):
        LTX2Model.load(single, _settings("ltx2.3", te_name_or_path=str(gemma), extras_name_or_path=str(extras)))
    (extras / "text_encoder").mkdir()
    shutil.copy2(folder / "text_encoder" / "config.json", extras / "text_encoder" / "config.json")
    model = LTX2Model.load(single, _settings("ltx2.3", te_name_or_path=str(gemma), extras_name_or_path=str(extras)))
    assert type(model.text_encoder).__name__ == "Gemma3TextModel"
    _same_model(model, reference)
    assert model.encode_text_hidden(["a red circle"]).hidden.abs().sum() > 0
