"""Weight files as they are released (and as ComfyUI repacks them), read the way the public
loaders read them (diffusers' conversion script, Lightricks' ltx-core, ComfyUI): tiny files
written in each described layout."""

from __future__ import annotations

import shutil

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file
from tiny_family import build_family, tokenizer_files
from transformers.convert_slow_tokenizer import import_protobuf

from extensions_built_in.diffusion_models.ltx2.ltx2 import LTX2Model, LTX2Settings
from extensions_built_in.diffusion_models.ltx2.versions import VERSIONS as ARCHES
from extensions_built_in.diffusion_models.ltx2.weights.errors import ModelFileError
from extensions_built_in.diffusion_models.ltx2.weights.layout import SINGLE_FILE, SPLIT_FILES_25
from extensions_built_in.diffusion_models.ltx2.weights.load import load_components
from extensions_built_in.diffusion_models.ltx2.weights.resolve import resolve_model_files
from extensions_built_in.diffusion_models.ltx2.weights.source_checks import model_source_problems
from extensions_built_in.diffusion_models.ltx2.weights.write import write_single_file, write_split_files
from toolkit.config_modules import ModelConfig

KEYFRAME = "model.diffusion_model.keyframes_abs_pos_embedding"


@pytest.fixture(scope="module")
def pack25(tmp_path_factory):
    """The tiny 2.5 components, their unified single file and their split pack."""
    root = tmp_path_factory.mktemp("releases")
    parts = build_family("2.5", seed=5)
    single = write_single_file(parts, "2.5", root / "ltx-2.5-unified.safetensors")
    split = write_split_files(parts, "2.5", root / "models", tokenizer_files())
    return parts, single, split


def _rewrite(src, dst, drop=(), add=None, metadata=None):
    """A copy of a .safetensors file without `drop`, with `add` and with `metadata` merged in."""
    with safe_open(str(src), framework="pt") as f:
        tensors = {k: f.get_tensor(k) for k in f.keys() if k not in drop}
        meta = dict(f.metadata() or {})
    tensors.update(add or {})
    meta.update(metadata or {})
    save_file(tensors, str(dst), metadata=meta)
    return dst


def test_the_keyframe_embedding_is_decided_by_the_file(pack25, tmp_path):
    """Only 2.5.1+ transformer files have keyframes_abs_pos_embedding: a 2.5.0 file loads without
    it (the version table and even the config the file records say it is there)."""
    parts, single, _ = pack25
    with_it = load_components("2.5", {"checkpoint": single}, components=["transformer"])["transformer"]
    assert with_it.config.use_keyframes_abs_pos_embedding
    assert torch.equal(with_it.keyframes_abs_pos_embedding, parts["transformer"].keyframes_abs_pos_embedding)
    old = _rewrite(single, tmp_path / "ltx-2.5.0.safetensors", drop={KEYFRAME})
    without = load_components("2.5", {"checkpoint": old}, components=["transformer"])["transformer"]
    assert not without.config.use_keyframes_abs_pos_embedding
    assert getattr(without, "keyframes_abs_pos_embedding", None) is None
    theirs = parts["transformer"].state_dict()
    assert all(torch.equal(v, theirs[k]) for k, v in without.state_dict().items())


def _tokenizer_only(version, path):
    return load_components(version, {"text_encoder": path}, components=["tokenizer"])["tokenizer"]


def test_tokenizer_settings_stored_as_metadata_strings(pack25, tmp_path):
    """Older and ComfyUI packs keep tokenizer_config.json as a metadata string (and the
    tokenizer bytes may be int8): the tokenizer still starts prompts with BOS. Without the
    settings anywhere it would add none: refused, naming the file."""
    te = pack25[2]["text_encoder"]
    config = tokenizer_files()["tokenizer_config.json"].decode()
    with safe_open(str(te), framework="pt") as f:
        as_int8 = f.get_tensor("tokenizer_json").view(torch.int8).clone()
    older = _rewrite(te, tmp_path / "older.safetensors", drop={"hf_asset__tokenizer_config.json"},
                     add={"tokenizer_json": as_int8}, metadata={"tokenizer_config.json": config})
    tok = _tokenizer_only("2.5", older)
    ids = tok("a man says hello")["input_ids"]
    assert ids[0] == tok.bos_token_id == 2 and len(ids) == 5
    assert tok.convert_ids_to_tokens(ids[1:]) == ["a", "man", "says", "hello"]
    bare = _rewrite(te, tmp_path / "bare.safetensors", drop={"hf_asset__tokenizer_config.json"})
    with pytest.raises(ModelFileError, match=r"bare\.safetensors: the tokenizer it carries adds no BOS token "
                                             r"\('a' becomes \[4\].*tokenizer_config\.json"):
        _tokenizer_only("2.5", bare)


def tiny_spiece(words=("a", "man", "says", "hello", "red", "circle")) -> tuple[bytes, dict[str, int]]:
    """A SentencePiece BPE model as Gemma's is laid out (pad, eos, bos, unk first), serialized
    with protobuf: what ComfyUI stores as `spiece_model`. Pieces: the letters and every prefix
    of each word (with ▁ for a preceding space), so BPE merges each word into one piece."""
    proto = import_protobuf().ModelProto()
    proto.trainer_spec.model_type = 2  # BPE
    spec = proto.trainer_spec
    spec.pad_id, spec.eos_id, spec.bos_id, spec.unk_id = 0, 1, 2, 3
    pieces = [("<pad>", 3), ("<eos>", 3), ("<bos>", 3), ("<unk>", 2)]  # 3 control, 2 unknown
    spelled = [w if i == 0 else "▁" + w for i, w in enumerate(words)]
    pieces += [(c, 1) for c in sorted({c for w in spelled for c in w})]
    for n in range(2, max(map(len, spelled)) + 1):
        pieces += [(w[:n], 1) for w in spelled if len(w) >= n and (w[:n], 1) not in pieces]
    for rank, (text, kind) in enumerate(pieces):
        piece = proto.pieces.add()
        piece.piece, piece.type, piece.score = text, kind, float(-rank)
    return proto.SerializeToString(), {text: i for i, (text, _) in enumerate(pieces)}


def test_comfyui_gemma3_file_carries_its_tokenizer(tiny_files, tmp_path):
    """ComfyUI's Gemma 3 file holds Gemma's SentencePiece model as `spiece_model`: it is the
    tokenizer (BOS added, as ComfyUI adds it), so only text_encoder/config.json is needed beside
    the file; --check agrees."""
    from extensions_built_in.diffusion_models.ltx2.weights.write import write_text_encoder_file

    folder = tiny_files("2.3")
    single = str(folder / SINGLE_FILE["2.3"])
    reference = LTX2Model.load(single, LTX2Settings(version=ARCHES["ltx2.3"], gradient_checkpointing=False,
                                                    te_name_or_path=str(folder)))
    language = reference.text_encoder  # loaded text-only (the language model alone)
    language = getattr(getattr(language, "model", None), "language_model", language)
    plain = write_text_encoder_file(language, "2.3",
                                    tmp_path / "plain.safetensors", record_config=False)
    spm, vocab = tiny_spiece()
    gemma = _rewrite(plain, tmp_path / "gemma_3_12B_it.safetensors",
                     add={"spiece_model": torch.frombuffer(bytearray(spm), dtype=torch.uint8).clone()})
    extras = tmp_path / "extras"  # the configuration only: no tokenizer/ folder
    (extras / "text_encoder").mkdir(parents=True)
    shutil.copy2(folder / "text_encoder" / "config.json", extras / "text_encoder" / "config.json")

    # --check: the plain file needs a tokenizer folder, the ComfyUI file does not
    problems = model_source_problems(ModelConfig(name_or_path=single, arch="ltx2.3", te_name_or_path=str(plain),
                                                 extras_name_or_path=str(extras)))
    assert [k for k, _ in problems] == ["model.extras_name_or_path"] and "holds no tokenizer" in problems[0][1]
    assert model_source_problems(ModelConfig(name_or_path=single, arch="ltx2.3", te_name_or_path=str(gemma),
                                             extras_name_or_path=str(extras))) == []

    model = LTX2Model.load(single, LTX2Settings(version=ARCHES["ltx2.3"], gradient_checkpointing=False,
                                                te_name_or_path=str(gemma), extras_name_or_path=str(extras)))
    expected = [vocab[t] for t in ("<bos>", "a", "▁man", "▁says", "▁hello")]
    assert model.tokenizer("a man says hello")["input_ids"] == expected
    ids, mask = model.tokenize(["a red circle"])
    real = ids[0, mask[0].bool()].tolist()
    assert real == [vocab[t] for t in ("<bos>", "a", "▁red", "▁circle")]
    assert ids.shape[1] == 1024  # no length limit in the file: padded to the reference's 1024, as for Gemma's own


def test_a_gemma3_spiece_model_that_is_not_one_is_named(tmp_path):
    bad = tmp_path / "gemma_3_12B_it.safetensors"
    save_file({"spiece_model": torch.tensor([7, 7, 7], dtype=torch.uint8)}, str(bad))
    with pytest.raises(ModelFileError, match=r"gemma_3_12B_it\.safetensors: its spiece_model tensor is not a "
                                             r"SentencePiece model"):
        _tokenizer_only("2.3", bad)


def test_the_diffusion_decoder_vae_file_is_recognised_by_its_key(pack25, tmp_path):
    """LTX-2.5's diffusion-decoder VAE keeps the conv encoder; only its decoder differs. ComfyUI
    tells it by `decoder.conv_in_x_t.weight`: so does the error, whatever the file is called."""
    files = dict(pack25[2])
    with safe_open(str(files["video_vae"]), framework="pt") as f:
        decoder = {k for k in f.keys() if k.startswith("decoder.")}
    files["video_vae"] = _rewrite(files["video_vae"], tmp_path / "renamed-vae.safetensors", drop=decoder, add={
        "decoder.conv_in_x_t.weight": torch.zeros(8, 12), "decoder.diff_blocks.0.scale_shift_table": torch.zeros(7, 8)})
    with pytest.raises(ModelFileError, match=r"renamed-vae\.safetensors lacks \d+ of its \d+ tensors.*it is LTX-2\.5's "
                                             r"diffusion-decoder video VAE .*vae/ltx-2\.5-video-vae-conv-bf16"):
        load_components("2.5", files, components=["vae"])


def test_an_fp8_scale_that_fits_no_rule_is_named(pack25, tmp_path):
    """Per-tensor and per-output-channel scales are applied; any other shape (block-wise
    recipes) would broadcast into wrong weights or a raw torch error: one message naming the key."""
    _, single, _ = pack25
    key = "model.diffusion_model.proj_out.weight"
    with safe_open(str(single), framework="pt") as f:
        weight = f.get_tensor(key)
    per_channel = _rewrite(single, tmp_path / "channel.safetensors", add={
        key: weight.to(torch.float8_e4m3fn), key.replace(".weight", ".weight_scale"): torch.ones(weight.shape[0], 1)})
    got = load_components("2.5", {"checkpoint": per_channel}, components=["transformer"])["transformer"]
    torch.testing.assert_close(got.proj_out.weight.float(), weight.float(), rtol=0.07, atol=1e-3)
    blocks = _rewrite(single, tmp_path / "blocks.safetensors", add={
        key: weight.to(torch.float8_e4m3fn), key.replace(".weight", ".weight_scale"): torch.ones(1, weight.shape[1])})
    with pytest.raises(ModelFileError, match=r"blocks\.safetensors: the fp8 scale model\.diffusion_model\.proj_out\."
                                             r"weight_scale: its shape \[1, \d+\] is neither one value nor one per "
                                             r"output channel"):
        load_components("2.5", {"checkpoint": blocks}, components=["transformer"])


def test_release_file_names(tmp_path):
    """2.5 ships only split files, so a folder is searched for them, never for a 2.5 single
    file; a 2.3 folder without its file names where the fp8 files are."""
    assert "2.5" not in SINGLE_FILE
    (tmp_path / "ltx-2.5-22b-dev.safetensors").write_bytes(b"")  # a name no release has
    with pytest.raises(ModelFileError, match=r"split files: not found .*" + SPLIT_FILES_25["dit"]):
        resolve_model_files("2.5", str(tmp_path))
    with pytest.raises(ModelFileError, match=r"without ltx-2\.3-22b-dev\.safetensors .*fp8 file is in "
                                             r"Lightricks/LTX-2\.3-fp8"):
        resolve_model_files("2.3", str(tmp_path))
