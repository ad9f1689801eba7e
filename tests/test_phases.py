"""Each phase of a run holds only what it needs (docs/memory.md, Phases).

On this machine the host and the device are the same memory, so placement is checked two
ways through the real run: the adapter's record of what each phase held on the compute device
and on the host (`LTX2Model.residency`, written by the one function that moves components),
and that every component the adapter freed is really gone (no reference left anywhere, so
its memory is released) when the next phase loads.
"""

from __future__ import annotations

import gc
import weakref

import pytest
import torch
from conftest import prepared, run_config, tiny_config

from extensions_built_in.diffusion_models.ltx2.ltx2 import LTX2Model, LTX2Settings
from extensions_built_in.diffusion_models.ltx2.versions import VERSIONS
from toolkit.errors import RunFailed
from toolkit.memory.offload import OffloadedLinear

SAMPLE = ("vae", "audio_vae", "vocoder", "transformer")


def _expected(trained: bool) -> list[tuple]:
    """(phase, on the device, on the host, freed on entry) of a 2-step run sampling at step 1
    and at the end."""
    connectors = ("connectors",) if trained else ()
    return [
        ("text", ("text_encoder",), (), ()),
        ("connectors", () if trained else ("connectors",), (), ("text_encoder",)),
        ("clips", ("vae", "audio_vae"), (), () if trained else ("connectors",)),
        ("train", connectors + ("transformer",), ("vae", "audio_vae"), ()),
        ("sample", connectors + SAMPLE, (), ()),
        ("train", connectors + ("transformer",), ("vae", "audio_vae", "vocoder"), ()),
        ("sample", connectors + SAMPLE, (), ()),  # the final sampling: the run ends there
    ]


@pytest.mark.parametrize("trained", [False, True], ids=["frozen_connectors", "trained_connectors"])
def test_each_phase_holds_only_what_it_uses(trained, tiny_model_dir, clip_data, tmp_path, monkeypatch):
    freed = []
    free = LTX2Model._free

    def watching(self, name, phase):  # every module the adapter lets go of, watched until it is gone
        freed.append((name, weakref.ref(getattr(self, name))))
        free(self, name, phase)

    monkeypatch.setattr(LTX2Model, "_free", watching)
    proc = run_config(tiny_config(tiny_model_dir, clip_data, tmp_path, name="phases", steps=2, **{
        "train.train_text_encoder": trained, "train.disable_sampling": False, "train.skip_first_sample": True,
        "sample.sample_every": 1, "sample.voice_metric": False, "datasets.0.caption_dropout_rate": 0.5}))
    record = [(r.phase, r.on_device, r.on_host, r.freed) for r in proc.model.residency]
    assert record == _expected(trained)
    gc.collect()
    assert [name for name, ref in freed if ref() is not None] == []  # nothing holds a freed component
    assert sorted(p.name for p in (proc.out.folder / "samples").glob("*.mp4")) == ["000000001_00.mp4",
                                                                                "000000002_00.mp4"]
    # every prompt was encoded before training: nothing can bring Gemma back
    with pytest.raises(RunFailed, match="was not encoded while the text encoder was loaded.*freed when the run's "
                                        "connectors phase began"):
        proc.text.hidden_for("a prompt nobody cached")
    assert (proc.text.hidden == {}) is not trained  # trained connectors read Gemma's output every step
    log = (proc.out.folder / "log.txt").read_text()
    assert "caption encoding: the text encoder runs on the device" in log and "the text encoder is freed" in log


def test_cached_prompts_are_what_the_encoders_give(tiny_model_dir, clip_data, tmp_path):
    """The caption phases keep Gemma's output without its padding and the frozen connectors'
    output on the host: what a step reads is exactly what the models give for that prompt."""
    proc = prepared(tiny_config(tiny_model_dir, clip_data, tmp_path, **{"datasets.0.caption_dropout_rate": 0.5}))
    reference = LTX2Model.load(str(tiny_model_dir), LTX2Settings(version=VERSIONS["ltx2"], gradient_checkpointing=False))
    for caption in {item.caption for item in proc.items} | {""}:
        cached, fresh = proc.text.embeds[caption], reference.encode_prompts([caption])
        assert torch.equal(cached.video, fresh.video) and torch.equal(cached.audio, fresh.audio)
        assert cached.video.device.type == "cpu"
    text = reference.encode_text_hidden(["a red circle moving left"])
    compact = text.compact()
    assert compact.hidden.shape[1] == int(text.mask.sum()) < text.hidden.shape[1]  # the padding is not kept
    restored = compact.expand(reference.text_max_length, "cpu")
    a, b = reference.run_connectors(text), reference.run_connectors(restored)
    assert torch.equal(a.video, b.video) and torch.equal(a.audio, b.audio)


@pytest.mark.parametrize("placement", ["offload", "cpu"])
def test_text_encoder_placements_encode_alike(placement, tiny_model_dir):
    """Gemma offloaded layer by layer, or computing on the host, gives what it gives on the
    device; the phase record says where it was."""
    def encoded(where: str):
        model = LTX2Model.load(str(tiny_model_dir), LTX2Settings(
            version=VERSIONS["ltx2"], gradient_checkpointing=False, text_encoder_placement=where), phased=True)
        model.enter_phase("text")
        return model, model.encode_text_hidden(["a red circle moving left"]).hidden

    model, hidden = encoded(placement)
    _, reference = encoded("device")
    assert torch.equal(hidden, reference)
    offloaded = [m for m in model.text_encoder.modules() if isinstance(m, OffloadedLinear)]
    record = model.residency[-1]
    if placement == "offload":
        assert len(offloaded) == 14 and record.on_device == ("text_encoder",)  # 2 layers x 7 Linears
    else:
        assert not offloaded and record.on_device == () and record.on_host == ("text_encoder",)
