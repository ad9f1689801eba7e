"""The batch builder and its inputs: randomness drawn for the global batch (N ranks see one
process's draws), silence latents made by the dataset encoder (kept beside the latent cache),
and the run's one text cache (each prompt through Gemma once, kept in the one form its
consumer needs; the model adapter keeps none)."""

from __future__ import annotations

import pytest
import torch
from conftest import copy_media, prepared, tiny_config
from dataset_helpers import ListLog, load_tiny, noise_clip

from extensions_built_in.diffusion_models.ltx2.ltx2 import LTX2Model
from toolkit.dataloader_mixins import CACHE_DIR_NAME, CachingReport, DatasetEncoder, DatasetSpec
from toolkit.dataset.silence import SILENCE_DIR_NAME
from toolkit.errors import RunFailed
from toolkit.processes.distributed import DistContext


def test_a_cache_served_run_builds_audio_free_batches_without_any_vae(tiny_model_dir, synthetic_dir, tmp_path,
                                                                      monkeypatch):
    data = copy_media(synthetic_dir, tmp_path / "data", ["clip_000.mp4", "image_000.png"])
    cfg = tiny_config(tiny_model_dir, data, tmp_path / "out", **{"datasets.0.cache_latents_to_disk": True,
                                                                 "train.audio_preservation": "silence"})
    first = prepared(cfg)
    image = next(item for item in first.items if item.audio_status == "image")
    assert first.silence_latents.encoded >= 1  # made while encoding, before any step
    assert list((data / CACHE_DIR_NAME / SILENCE_DIR_NAME).glob("*.safetensors"))
    expected = first.silence_latents.get(image.num_audio_samples)  # the VAEs were freed after caching (phases)

    def no_vae(*args, **kwargs):
        raise AssertionError("a VAE ran on a run served from the latent cache")

    monkeypatch.setattr(LTX2Model, "encode_audio", no_vae)
    monkeypatch.setattr(LTX2Model, "encode_video", no_vae)
    second = prepared(tiny_config(tiny_model_dir, data, tmp_path / "out2", **{
        "datasets.0.cache_latents_to_disk": True, "train.audio_preservation": "silence"}))
    assert second.silence_latents.encoded == 0
    image = next(item for item in second.items if item.audio_status == "image")
    batch = second.batches.build([image])
    assert torch.equal(batch.audio_latents[0].cpu(), expected) and not bool(batch.audio_supervised.any())
    metrics = second.trainer.compute(batch).metrics
    assert metrics["audio_preservation_loss"] > 0.0  # the silence target reached the loss


def _encode(model, folder, log, **fields):
    spec = DatasetSpec(folder=str(folder), resolution=64, num_frames=9, fps=24.0, cache_to_disk=True,
                       window_variants=1, **fields)
    encoder = DatasetEncoder(model, model_id="tiny", seed=0, log=log, progress=False)
    return encoder, encoder.encode(spec, CachingReport())


def test_silence_files_are_checksummed_and_made_for_video_only_datasets(tiny_model_dir, tmp_path):
    model = load_tiny(tiny_model_dir)
    folder = tmp_path / "data"
    folder.mkdir()
    noise_clip(folder / "clip.mp4", frames=10)
    encoder, [item] = _encode(model, folder, ListLog(), do_audio=False)
    assert item.audio_latent is None and encoder.silence.encoded == 1
    made = encoder.silence.get(item.num_audio_samples)
    assert torch.equal(made, model.silent_audio_latent(item.num_audio_samples)[0])
    [path] = (folder / CACHE_DIR_NAME / SILENCE_DIR_NAME).glob("*.safetensors")
    data = bytearray(path.read_bytes())
    data[-3] ^= 0x40  # one flipped bit in the tensor bytes: still a loadable safetensors file
    path.write_bytes(bytes(data))
    log = ListLog()
    encoder, _ = _encode(model, folder, log, do_audio=False)
    assert encoder.silence.encoded == 1, "a damaged silence file must be made again, not trained on"
    assert any("re-encoding stale silence cache" in m for m in log.messages("info"))
    assert torch.equal(encoder.silence.get(item.num_audio_samples), made)
    with pytest.raises(LookupError, match="no silent audio latent for 12345 samples"):
        encoder.silence.get(12345)


@pytest.mark.parametrize("train_text_encoder", [False, True])
def test_each_prompt_runs_gemma_once_and_only_the_text_cache_keeps_it(train_text_encoder, tiny_model_dir, clip_data,
                                                                      tmp_path, monkeypatch):
    caption = " ".join((clip_data / "clip_000.txt").read_text(encoding="utf-8").split())
    runs = []
    real = LTX2Model._run_text_encoder

    def counting(self, prompts):
        runs.extend(prompts)
        return real(self, prompts)

    monkeypatch.setattr(LTX2Model, "_run_text_encoder", counting)
    proc = prepared(tiny_config(tiny_model_dir, clip_data, tmp_path, **{
        "train.cache_text_embeddings": True, "train.unload_text_encoder": True,
        "train.train_text_encoder": train_text_encoder, "train.disable_sampling": False,
        "sample.samples": [{"prompt": caption}, {"prompt": "a red circle"}]}))
    captions = {item.caption for item in proc.items} | {""}
    assert caption in captions
    assert sorted(runs) == sorted(captions | {"a red circle"}), "each distinct prompt goes through Gemma once"
    text = proc.batches.text
    if train_text_encoder:  # the connectors run every step: Gemma's output is kept for every caption
        assert set(text.hidden) == captions | {"a red circle"} and not text.embeds
    else:  # frozen connectors: every prompt as connector outputs, made in the connectors phase
        assert set(text.embeds) == captions | {"a red circle"} and not text.hidden
    with pytest.raises(RunFailed, match="was not encoded while the text encoder was loaded"):
        proc.model.encode_text_hidden(["a red circle"])  # the adapter keeps no prompts of its own
    proc.samples.sample(force=True)  # sampling after the unload reads the text cache
    assert len(list(proc.out.samples.glob("*.mp4"))) == 2
    batch = proc.batches.build(proc.items[:1])
    assert proc.trainer.compute(batch).total.item() > 0


def test_global_rows_split_one_process_draw_between_ranks():
    def draw(n, seed=11):
        generator = torch.Generator().manual_seed(seed)
        return torch.rand(n, generator=generator)

    single = DistContext().global_rows(draw, 6)
    ranks = [DistContext(rank=r, world_size=3).global_rows(draw, 2) for r in range(3)]
    assert torch.equal(torch.cat(ranks), single)
    assert not torch.equal(ranks[0], ranks[1])  # each rank keeps its own rows, not the first ones
