"""The settings each downstream module gets, built from the validated config by field name
(toolkit/configuration/settings_from.py). Only the values that are computed or named differently in the
config are spelled out here; everything else is the config key of the same name."""

from __future__ import annotations

from extensions_built_in.diffusion_models.ltx2.ltx2 import LTX2Settings
from extensions_built_in.diffusion_models.ltx2.versions import get_version
from extensions_built_in.sd_trainer.SDTrainer import LossSettings
from toolkit.configuration.settings_from import settings_from
from toolkit.dataloader_mixins import DatasetSpec
from toolkit.lora.network import NetworkSettings
from toolkit.memory.levers import Levers
from toolkit.train.batch_builder import BatchSettings
from toolkit.train.strict_audio import StrictAudioSettings

# Per settings class: the fields the builders below give explicitly (computed or renamed).
# tests/test_settings_from.py checks every other field is a key of the config schema.
LTX2_GIVEN = ("dtype", "device", "version", "file_paths", "layer_offloading", "layer_offloading_transformer_percent",
              "offload_checkpoints", "ff_chunk_tokens",
              # the phases' start-up choices: "auto" resolved once the model is open (phase_setup.py)
              "text_encoder_placement", "vae_tiling", "vae_decode_tiling", "sampling", "train_video_tokens")
LTX2_KEEP_DEFAULT = ("vae_tile",)  # not a config key: diffusers' tile sizes
LOSS_GIVEN = ("draw_i2v",)
BATCH_GIVEN = ()
NETWORK_GIVEN = ("rank", "alpha", "include_audio", "model_version", "audio_rank", "audio_alpha", "lora_precision",
                 "lora_cast_before_add")
DATASET_GIVEN = ("folder", "resolution", "spread", "preserve_pitch", "cache_to_disk", "trigger_word",
                 "encode_audio_files")
DATASET_KEEP_DEFAULT = ("max_windows",)  # not a config key: the encoder's fixed limit


def ltx2_settings(cfg, dtype, device, levers: Levers):

    placement = cfg.model.text_encoder_placement
    return settings_from(LTX2Settings, cfg.model, cfg.model.model_kwargs, cfg.train, keep_default=LTX2_KEEP_DEFAULT,
                         dtype=dtype, device=device, version=get_version(cfg.model.arch),
                         file_paths=cfg.model.model_kwargs.file_paths(),
                         layer_offloading=levers.layer_offloading,
                         layer_offloading_transformer_percent=levers.offload_percent,
                         offload_checkpoints=levers.offload_checkpoints,
                         ff_chunk_tokens=levers.ff_chunk_tokens,
                         text_encoder_placement="device" if placement == "auto" else placement,
                         vae_tiling=cfg.model.vae_tiling == "true", vae_decode_tiling=cfg.model.vae_tiling == "true",
                         sampling=not cfg.train.disable_sampling and bool(cfg.sample.samples),
                         train_video_tokens=None)


def loss_settings(train, datasets=()):
    """`datasets`: the training datasets (a do_i2v strictly between 0 and 1 makes the loss draw
    each item's image-to-video mode per step)."""
    return settings_from(LossSettings, train, draw_i2v=any(0.0 < d.do_i2v < 1.0 for d in datasets))


def network_settings(net, model_version: str, levers: Levers):
    return settings_from(NetworkSettings, net, net.network_kwargs, rank=net.linear, alpha=net.linear_alpha,
                         include_audio=bool(net.train_audio_modules), model_version=model_version,
                         audio_rank=net.audio_linear, audio_alpha=net.audio_linear_alpha,
                         lora_precision=levers.lora_precision, lora_cast_before_add=levers.lora_cast_before_add)


def dataset_spec(ds, resolution: int, trigger_word, encode_audio_files: bool = True):
    """`encode_audio_files`: this pass encodes the dataset's audio-only files (the first
    resolution's; sound has no size, so the others would repeat it)."""
    return settings_from(DatasetSpec, ds, keep_default=DATASET_KEEP_DEFAULT, folder=ds.folder_path,
                         resolution=resolution, spread=bool(ds.shrink_video_to_frames),
                         preserve_pitch=ds.audio_preserve_pitch, cache_to_disk=ds.cache_latents_to_disk,
                         trigger_word=trigger_word, encode_audio_files=encode_audio_files)


def batch_settings(cfg):
    return settings_from(BatchSettings, cfg.train, cfg)


def strict_audio_settings(train):
    return settings_from(StrictAudioSettings, train)
