"""split and strip-audio: the video and audio files of a LoRA, DoRA or LoKr loaded together at
strength 1 in diffusers give the original's output; strip-audio leaves exactly the audio-side
layers out; a file with layers that write both streams is refused with the reason."""

from __future__ import annotations

from contextlib import contextmanager

import pytest
import torch
from network_helpers import transformer_inputs
from numerics import assert_outputs_match
from safetensors.torch import load_file

from toolkit.lora_tools import main


def _outputs(pipe, isolate: bool = False):
    """The transformer's video and audio outputs and the connectors' two text embeddings."""
    with torch.no_grad():
        video, audio = pipe.transformer(**transformer_inputs(torch.float32), isolate_modalities=isolate)
        config = pipe.connectors.config
        tokens = config.video_connector_num_learnable_registers or 8
        text = torch.randn(1, tokens, config.caption_channels * config.text_proj_in_factor,
                           generator=torch.Generator().manual_seed(3))
        video_text, audio_text, _ = pipe.connectors(text, torch.ones(1, tokens))
    return video, audio, video_text, audio_text


@contextmanager
def loaded(pipe, paths, lokr: bool = False):
    """The files loaded as adapters by diffusers' own loaders, all at strength 1."""
    names = [f"a{i}" for i in range(len(paths))]
    for name, path in zip(names, paths, strict=True):
        if lokr:  # LTX2Pipeline.load_lora_weights refuses LoKr; the transformer's own loader reads it
            pipe.transformer.load_lora_adapter(str(path), prefix="transformer", adapter_name=name)
        else:
            pipe.load_lora_weights(str(path), adapter_name=name)
    try:
        if lokr:
            pipe.transformer.set_adapters(names, [1.0] * len(names))
        else:
            pipe.set_adapters(names, [1.0] * len(names))
        yield
    finally:
        pipe.unload_lora_weights()


def _match(actual, expected, what):
    """Outputs of two differently loaded adapters: equal up to the kernels' summation order."""
    for name, a, e in zip(("video", "audio", "video text", "audio text"), actual, expected, strict=False):
        assert_outputs_match(a, e, f"{what}: {name}")


CASES = {"lora": ("lora", "comfyui", True), "dora": ("dora", "comfyui", False), "lokr": ("lokr", "diffusers", False)}


@pytest.mark.numerics
@pytest.mark.filterwarnings("ignore:Already found a `peft_config`")  # two adapters, on purpose
@pytest.mark.parametrize("case", list(CASES))
def test_split_halves_together_equal_the_original_in_diffusers(lora_files, tmp_path, capsys, case):
    network_type, fmt, text = CASES[case]
    source = lora_files.ours(network_type, fmt, connectors=text)
    assert main(["split", str(source), "--out-dir", str(tmp_path)]) == 0
    assert "at strength 1 both together equal the original" in capsys.readouterr().out
    video_file, audio_file = tmp_path / f"{source.stem}_video.safetensors", tmp_path / f"{source.stem}_audio.safetensors"
    original, video, audio = load_file(str(source)), load_file(str(video_file)), load_file(str(audio_file))
    assert not set(video) & set(audio) and set(video) | set(audio) == set(original), "a partition of the keys"
    assert all(torch.equal(original[k], t) for part in (video, audio) for k, t in part.items())
    assert any(".audio_attn1." in k for k in audio) and any(".video_to_audio_attn." in k for k in audio)
    assert any(".audio_to_video_attn." in k for k in video) and not any(".audio_ff." in k for k in video)
    if text:
        assert any("audio_embeddings_connector" in k or "audio_connector" in k for k in audio)
        assert not any("audio_embeddings_connector" in k or "audio_connector" in k for k in video)

    pipe = lora_files.pipeline()
    lokr = network_type == "lokr"
    base = _outputs(pipe)
    with loaded(pipe, [source], lokr):
        whole = _outputs(pipe)
    with loaded(pipe, [video_file, audio_file], lokr):
        halves = _outputs(pipe)
    assert (whole[0] - base[0]).abs().max() > 1e-3 and (whole[1] - base[1]).abs().max() > 1e-3
    if text:
        assert (whole[3] - base[3]).abs().max() > 1e-3, "the connector layers took part"
    _match(halves, whole, f"{case}: the two halves vs the original")


@pytest.mark.numerics
def test_strip_audio_leaves_the_audio_stream_as_the_base_model_has_it(lora_files, tmp_path, capsys):
    """With the streams isolated, the stripped LoRA gives the base model's audio exactly and
    the full LoRA's video; the cross-attention that writes audio went, the one that writes
    video stayed."""
    source = lora_files.ours("lora")
    out = tmp_path / "voice_kept.safetensors"
    assert main(["strip-audio", str(source), "-o", str(out)]) == 0
    said = capsys.readouterr().out
    assert "v2a (video->audio cross-attention (queries audio, keys/values video): writes audio)" in said
    stripped = load_file(str(out))
    assert not any(".audio_attn" in k or ".audio_ff." in k or ".video_to_audio_attn." in k for k in stripped)
    assert any(".audio_to_video_attn." in k for k in stripped)
    pipe = lora_files.pipeline()
    base = _outputs(pipe, isolate=True)
    with loaded(pipe, [source]):
        whole = _outputs(pipe, isolate=True)
    with loaded(pipe, [out]):
        video_only = _outputs(pipe, isolate=True)
    assert torch.equal(video_only[1], base[1]), "audio untouched"
    assert (whole[1] - base[1]).abs().max() > 1e-3
    _match(video_only[:1], whole[:1], "stripped vs whole")


def test_split_refuses_layers_that_write_both_streams_unless_told(lora_files, tmp_path, capsys):
    source = lora_files.with_shared_layers().path
    assert main(["split", str(source), "--out-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "refused: 2 of its layers write both streams (av-modulation" in err and "--shared-to" in err
    assert not list(tmp_path.iterdir())
    assert main(["split", str(source), "--out-dir", str(tmp_path), "--shared-to", "audio"]) == 0
    audio = load_file(str(tmp_path / f"{source.stem}_audio.safetensors"))
    assert any("av_ca_video_scale_shift_adaln_single" in k for k in audio)

    video_only = tmp_path / "video_only.safetensors"
    assert main(["strip-audio", str(lora_files.ours("lora")), "-o", str(video_only)]) == 0
    capsys.readouterr()
    assert main(["split", str(video_only), "--out-dir", str(tmp_path)]) == 2
    assert "no audio-side layers" in capsys.readouterr().err
