"""ai-toolkit configs load here: every key it reads, its UI's stock file, its number and
qtype spellings; and what this trainer does differently is said, once."""

from __future__ import annotations

import copy
import json

import pytest

import run
from toolkit.config_modules import (
    DatasetConfig,
    LoggingConfig,
    ModelConfig,
    NetworkConfig,
    ProcessConfig,
    SampleConfig,
    SampleItem,
    SaveConfig,
    TrainConfig,
)
from toolkit.configuration.files import parse_config_text
from toolkit.configuration.loader import config_issues, validate_config_data
from toolkit.configuration.notes import startup_notes
from toolkit.configuration.upstream import UPSTREAM_KEYS
from toolkit.memory.qtypes import QTYPE_NAMES

# Every key ai-toolkit's config classes read (ostris/ai-toolkit at 27a03a9, Aug 2026), per section.
UPSTREAM_READS = {
    "process": "type, name, training_folder, log_dir, training_seed, device, trigger_word, "
               "performance_log_every, sqlite_db_path, first_sample, torch_profiler, do_lorm, "
               "lorm_extract_mode, lorm_extract_mode_param, model, train, network, datasets, save, sample, "
               "logging, adapter, embedding, decorator, guidance, slider",
    "save": "save_every, dtype, max_step_saves_to_keep, save_format, push_to_hub, hf_repo_id, hf_private",
    "logging": "log_every, verbose, use_wandb, use_ui_logger, project_name, run_name",
    "samples": "prompt, width, height, neg, seed, guidance_scale, sample_steps, fps, num_frames, ctrl_img, "
               "ctrl_idx, ctrl_img_1, ctrl_img_2, ctrl_img_3, network_multiplier, do_cfg_norm",
    "sample": "sampler, sample_every, sample_start_step, width, height, neg, seed, walk_seed, guidance_scale, "
              "sample_steps, network_multiplier, guidance_rescale, format, adapter_conditioning_scale, "
              "refiner_start_at, extra_values, num_frames, fps, prompts, samples, do_cfg_norm",
    "network": "type, rank, linear, conv, alpha, linear_alpha, conv_alpha, dropout, network_kwargs, lorm, "
               "transformer_only, lokr_full_rank, lokr_factor, old_lokr_format, split_multistage_loras, "
               "layer_offloading, pretrained_lora_path, all_layers",
    "train": "noise_scheduler, content_or_style, steps, lr, unet_lr, text_encoder_lr, refiner_lr, embedding_lr, "
             "adapter_lr, optimizer, optimizer_params, lr_scheduler, lr_scheduler_params, min_denoising_steps, "
             "max_denoising_steps, batch_size, dtype, xformers, sdp, attention_backend, train_unet, "
             "train_text_encoder, train_refiner, train_turbo, show_turbo_outputs, min_snr_gamma, snr_gamma, "
             "learnable_snr_gos, noise_offset, skip_first_sample, force_first_sample, gradient_checkpointing, "
             "weight_jitter, merge_network_on_save, merge_network_on_save_strength, max_grad_norm, start_step, "
             "free_u, adapter_assist_name_or_path, adapter_assist_type, noise_multiplier, "
             "target_noise_multiplier, random_noise_multiplier, do_signal_correction_noise, "
             "do_batch_noise_correction, batch_noise_correction_scale, do_signal_amplification, "
             "signal_amplification_strength, signal_correction_noise_scale, random_noise_shift, img_multiplier, "
             "noisy_latent_multiplier, latent_multiplier, negative_prompt, max_negative_prompts, reg_weight, "
             "num_train_timesteps, adaptive_scaling_factor, prompt_dropout_prob, match_noise_norm, "
             "gradient_accumulation_steps, gradient_accumulation, short_and_long_captions, "
             "short_and_long_captions_encoder_split, single_item_batching, match_adapter_assist, "
             "match_adapter_chance, loss_target, inverted_mask_prior, inverted_mask_prior_multiplier, "
             "diff_output_preservation, diff_output_preservation_multiplier, diff_output_preservation_class, "
             "blank_prompt_preservation, blank_prompt_preservation_multiplier, standardize_images, "
             "standardize_latents, dynamic_noise_offset, do_cfg, do_random_cfg, cfg_scale, max_cfg_scale, "
             "cfg_rescale, correct_pred_norm, correct_pred_norm_multiplier, loss_type, t0_loss_target, "
             "t0_velocity_equiv_weight, do_fft_loss, do_fft_velocity_equiv_weight, pred_scaler, "
             "prompt_saturation_chance, do_prior_divergence, ema_config, target_norm_std, target_norm_std_value, "
             "timestep_type, next_sample_timesteps, linear_timesteps, linear_timesteps2, disable_sampling, "
             "unload_text_encoder, cache_text_embeddings, do_paramiter_swapping, paramiter_swapping_factor, "
             "bypass_guidance_embedding, latent_feature_extractor_path, latent_feature_loss_weight, "
             "diffusion_feature_extractor_path, diffusion_feature_extractor_weight, "
             "optimal_noise_pairing_samples, force_consistent_noise, blended_blur_noise, do_guidance_loss, "
             "guidance_loss_target, do_guidance_loss_cfg_zero, guidance_loss_schedule, unconditional_prompt, "
             "do_differential_guidance, differential_guidance_scale, switch_boundary_every, "
             "do_blank_stabilization, audio_loss_multiplier, max_loss_debug, max_loss, validation_config",
    "model": "name_or_path, is_v2, is_xl, is_pixart, is_pixart_sigma, is_auraflow, is_v3, is_flux, is_lumina2, "
             "use_flux_cfg, is_ssd, is_vega, is_v_pred, dtype, vae_path, refiner_name_or_path, refiner_start_at, "
             "lora_path, assistant_lora_path, inference_lora_path, unconditional_lora_path, latent_space_version, "
             "use_text_encoder_1, use_text_encoder_2, experimental_xl, text_encoder_bits, unet_path, "
             "unet_sample_size, vae_device, vae_dtype, te_device, te_dtype, quantize, quantize_te, qtype, "
             "qtype_te, low_vram, attn_masking, ignore_if_contains, only_if_contains, quantize_kwargs, "
             "split_model_over_gpus, split_model_other_module_param_count_scale, te_name_or_path, arch, "
             "auto_memory, layer_offloading, layer_offloading_transformer_percent, "
             "layer_offloading_text_encoder_percent, extras_name_or_path, accuracy_recovery_adapter, compile, "
             "block_compile, compile_mode, compile_fullgraph, compile_dynamic, cache_size_limit, model_kwargs, "
             "model_paths, in_context",
    "datasets": "batch_size, type, folder_path, dataset_path, default_caption, trigger_word, "
                "diff_output_preservation, diff_output_preservation_class, random_triggers, random_triggers_max, "
                "caption_ext, random_scale, random_crop, resolution, scale, buckets, bucket_tolerance, is_reg, "
                "prior_reg, network_weight, token_dropout_rate, shuffle_tokens, caption_dropout_rate, keep_tokens, "
                "flip_x, flip_y, augments, control_path, control_from_same_folder, num_controls_from_same_folder, "
                "control_path_1, control_path_2, control_path_3, control_transparent_color, inpaint_path, "
                "full_size_control_images, alpha_mask, mask_path, unconditional_path, invert_mask, "
                "mask_min_value, poi, use_short_captions, num_repeats, cache_latents, cache_latents_to_disk, "
                "cache_tensors_to_disk, cache_clip_vision_to_disk, cache_text_embeddings, "
                "load_image_when_caching_latents, standardize_images, augmentations, shuffle_augmentations, "
                "caption_type, guidance_type, clip_image_path, clip_image_from_same_folder, "
                "clip_image_augmentations, clip_image_shuffle_augmentations, replacements, loss_multiplier, "
                "num_workers, prefetch_factor, cache_latents_num_workers, extra_values, square_crop, "
                "replay_transforms, num_frames, shrink_video_to_frames, fps, auto_frame_count, "
                "trim_auto_frame_count_tail, debug, controls, fast_image_size, do_i2v, do_audio, "
                "audio_preserve_pitch, audio_normalize",
}
SCHEMA = {"process": ProcessConfig, "save": SaveConfig, "logging": LoggingConfig, "samples": SampleItem,
          "sample": SampleConfig, "network": NetworkConfig, "train": TrainConfig, "model": ModelConfig,
          "datasets": DatasetConfig}
# Legacy spellings the schema turns into fields before validation.
CONVERTED = {("sample", "prompts")}


def reads(section: str) -> list[str]:
    return [k.strip() for k in UPSTREAM_READS[section].split(",")]


def schema_keys(model) -> set[str]:
    keys = set()
    for name, info in model.model_fields.items():
        keys.add(name)
        keys.update(getattr(info.validation_alias, "choices", None) or [])
    return keys


# Modelled on the JSON ai-toolkit's web UI saves for an LTX-2 job (its defaults), with the
# folder filled in, device cpu and optimizer adamw (its default adamw8bit needs bitsandbytes,
# a CUDA package this test machine lacks). It must load without a warning about keys.
STOCK_UI_JOB = {
    "job": "extension",
    "config": {
        "name": "my_first_ltx2_lora_v1",
        "process": [{
            "type": "diffusion_trainer", "training_folder": "output", "sqlite_db_path": "./aitk_db.db",
            "device": "cpu", "trigger_word": None, "performance_log_every": 10,
            "network": {"type": "lora", "linear": 32, "linear_alpha": 32, "conv": 16, "conv_alpha": 16,
                        "lokr_full_rank": True, "lokr_factor": -1, "network_kwargs": {"ignore_if_contains": []}},
            "save": {"dtype": "bf16", "save_every": 250, "max_step_saves_to_keep": 4, "save_format": "diffusers",
                     "push_to_hub": False},
            "datasets": [{
                "folder_path": "/data/clips", "mask_path": None, "mask_min_value": 0.1, "default_caption": "",
                "caption_ext": "txt", "caption_dropout_rate": 0.05, "cache_latents_to_disk": False,
                "is_reg": False, "network_weight": 1, "resolution": [512], "controls": [],
                "shrink_video_to_frames": True, "num_frames": 121, "flip_x": False, "flip_y": False,
                "do_i2v": False, "do_audio": True, "fps": 24, "auto_frame_count": False,
            }],
            "train": {
                "batch_size": 1, "bypass_guidance_embedding": False, "steps": 3000, "gradient_accumulation": 1,
                "train_unet": True, "train_text_encoder": False, "gradient_checkpointing": True,
                "noise_scheduler": "flowmatch", "optimizer": "adamw", "timestep_type": "weighted",
                "content_or_style": "balanced", "optimizer_params": {"weight_decay": 1e-4},
                "unload_text_encoder": False, "cache_text_embeddings": False, "lr": 1e-4,
                "ema_config": {"use_ema": False, "ema_decay": 0.99}, "skip_first_sample": False,
                "force_first_sample": False, "disable_sampling": False, "dtype": "bf16",
                "diff_output_preservation": False, "diff_output_preservation_multiplier": 1.0,
                "diff_output_preservation_class": "person", "switch_boundary_every": 1, "loss_type": "mse",
                "audio_loss_multiplier": 1.0,
            },
            "logging": {"log_every": 1, "use_ui_logger": True},
            "model": {"name_or_path": "Lightricks/LTX-2", "quantize": True, "qtype": "qfloat8",
                      "quantize_te": True, "qtype_te": "qfloat8", "arch": "ltx2", "low_vram": True,
                      "model_kwargs": {}, "layer_offloading": False},
            "sample": {
                "sampler": "flowmatch", "sample_every": 250, "width": 768, "height": 768,
                "samples": [{"prompt": "a woman says hello"}], "neg": "", "seed": 42, "walk_seed": True,
                "guidance_scale": 4, "sample_steps": 25, "num_frames": 121, "fps": 24, "sample_start_step": 0,
            },
        }],
    },
    "meta": {"name": "[name]", "version": "1.0"},
}


def with_every_key() -> tuple[dict, list[str]]:
    """The stock job plus every key ai-toolkit reads that it lacks, each set to a value that
    is not neutral (so it must warn); returns (config, key paths added without a field)."""
    data = copy.deepcopy(STOCK_UI_JOB)
    proc = data["config"]["process"][0]
    targets = {"process": proc, "network": proc["network"], "train": proc["train"], "model": proc["model"],
               "datasets": proc["datasets"][0], "save": proc["save"], "sample": proc["sample"],
               "samples": proc["sample"]["samples"][0], "logging": proc["logging"]}
    added = []
    for section, target in targets.items():
        fields = schema_keys(SCHEMA[section])
        for key in reads(section):
            if key in target or key in fields or (section, key) in CONVERTED:
                continue
            target[key] = {"enabled_by_test": 7} if section == "process" else 7
            added.append(f"{section}.{key}")
    proc["sample"]["prompts"] = []  # the legacy list, empty next to samples
    proc["train"]["ema_config"] = {"use_ema": True, "ema_decay": 0.99}
    return data, added


def test_every_key_ai_toolkit_reads_is_a_field_or_an_accepted_key():
    for section in UPSTREAM_READS:
        fields = schema_keys(SCHEMA[section])
        table = UPSTREAM_KEYS[section]
        stray = [k for k in reads(section) if k not in fields and k not in table and (section, k) not in CONVERTED]
        assert stray == [], f"{section}: neither honoured nor accepted: {stray}"


def test_config_with_every_key_validates_with_exit_0_and_one_warning_per_set_key(tmp_path, capsys, hub_cache):
    data, added = with_every_key()
    path = tmp_path / "all_keys.json"
    path.write_text(json.dumps(data))
    assert run.main(["--validate", "--json", str(path)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] is True and report["issues"] == []
    key_warnings = [w for w in report["warnings"] if "ai-toolkit key without effect here" in w]
    warned = {w.split(":")[0] for w in key_warnings}
    assert len(warned) == len(key_warnings)  # one warning per key
    quiet = []
    for entry in added:
        section, key = entry.split(".")
        spec = UPSTREAM_KEYS[section][key]
        if spec.neutral(7, {}):
            quiet.append(entry)
    # Keys set to a non-neutral value warn, each naming its path and why.
    assert "config.process[0].train.ema_config" in warned
    assert "config.process[0].slider" in warned and "config.process[0].model.is_flux" in warned
    assert any("EMA" in w for w in report["warnings"])
    assert len(warned) == len(added) - len(quiet) + 1  # + ema_config, made non-neutral above


def test_stock_ui_file_loads_quietly_and_honours_sample_start_step():
    data = copy.deepcopy(STOCK_UI_JOB)
    data["config"]["process"][0]["sample"]["sample_start_step"] = 500
    loaded = validate_config_data(data)
    proc = loaded.job.config.process[0]
    # The one deliberate warning: spreading clips with audio is replaced by natural-speed windows.
    assert len(loaded.warnings) == 1, loaded.warnings
    assert "shrink_video_to_frames" in loaded.warnings[0] and "shrink_video_with_audio" in loaded.warnings[0]
    assert proc.sample.sample_start_step == 500 and proc.type == "diffusion_trainer"
    assert proc.train.optimizer_params == {"weight_decay": 1e-4}


def test_a_key_outside_the_list_is_an_error_naming_the_closest():
    data = copy.deepcopy(STOCK_UI_JOB)
    data["config"]["process"][0]["train"]["ema_confg"] = {"use_ema": False}
    data["config"]["process"][0]["logging"]["use_ui_loger"] = True
    messages = sorted(i["message"] for i in config_issues(data))
    assert messages == ["unknown key 'ema_confg' — did you mean 'ema_config'?",
                        "unknown key 'use_ui_loger' — did you mean 'use_ui_logger'?"]


def test_neutral_values_are_quiet_and_live_ones_warn_once():
    data = copy.deepcopy(STOCK_UI_JOB)
    proc = data["config"]["process"][0]
    proc["datasets"] = [dict(proc["datasets"][0], shrink_video_to_frames=None, mask_path="/m", num_workers=4),
                        dict(proc["datasets"][0], shrink_video_to_frames=None, mask_path="/m",
                             folder_path=proc["datasets"][0]["folder_path"] + "_b")]  # one folder twice is refused
    proc["save"]["push_to_hub"] = True
    proc["logging"]["verbose"] = True
    proc["network"].update(type="lokr", lokr_full_rank=True)
    proc["train"].update(train_unet=False, xformers=False)
    warnings = validate_config_data(data).warnings
    keys = sorted(w.split(":")[0] for w in warnings)
    assert keys == ["config.process[0].datasets[0].mask_path", "config.process[0].datasets[0].num_workers",
                    "config.process[0].logging.verbose", "config.process[0].network.lokr_full_rank",
                    "config.process[0].save.push_to_hub", "config.process[0].train.train_unet"]


# ------------------------------------------------------------------ numbers, qtypes

def test_exponent_numbers_are_numbers_everywhere():
    text = """
job: extension
config:
  name: n
  process:
    - model: {name_or_path: Lightricks/LTX-2}
      datasets: [{folder_path: /d}]
      train:
        lr: 5E-5
        optimizer_params: {weight_decay: 1e-4, eps: .5e-8, betas: [0.9, 9.99e-1]}
        lr_scheduler: cosine
        lr_scheduler_params: {eta_min: 1e-6}
      network:
        network_kwargs: {only_if_contains: [attn1]}
"""
    data = parse_config_text(text, ".yaml", "n.yaml")
    train = data["config"]["process"][0]["train"]
    assert train["lr"] == 5e-5 and train["optimizer_params"] == {"weight_decay": 1e-4, "eps": 0.5e-8,
                                                                 "betas": [0.9, 0.999]}
    assert train["lr_scheduler_params"]["eta_min"] == 1e-6
    assert parse_config_text("a: .5e3\nb: 1e4\nc: '1e-4'\nd: v1e4\n", ".yaml", "x") == \
        {"a": 500.0, "b": 1e4, "c": "1e-4", "d": "v1e4"}
    proc = validate_config_data(data).job.config.process[0]
    assert proc.train.optimizer_params["weight_decay"] == 1e-4


@pytest.mark.parametrize("name", ["int8", "float8", "qint2", "qint4", "qint8", "qfloat8", "qfloat8_e4m3fn",
                                  "qfloat8_e4m3fnuz", "qfloat8_e5m2", "torchao_int8", "torchao_float8", "QINT4",
                                  "uint2", "uint3", "uint4", "uint5", "uint6", "uint7", "uint8", "convrot8"])
def test_served_qtype_names_validate(name):
    data = copy.deepcopy(STOCK_UI_JOB)
    data["config"]["process"][0]["model"].update(qtype=name, qtype_te=name)
    assert config_issues(data) == []


@pytest.mark.parametrize("name, nearest", [("orbit2", "uint2"), ("orbit3", "uint3"),
                                           ("uint3|ostris/ara/uint3.safetensors", "uint3"), ("qfloat9", "qfloat8")])
def test_unserved_qtype_names_list_what_is_served_and_the_nearest(name, nearest):
    data = copy.deepcopy(STOCK_UI_JOB)
    data["config"]["process"][0]["model"]["qtype"] = name
    (issue,) = config_issues(data)
    assert issue["path"] == "config.process[0].model.qtype"
    assert f"'{nearest}'" in issue["message"] or f" {nearest} " in issue["message"]
    assert all(served in issue["message"] for served in QTYPE_NAMES)


# ------------------------------------------------------------------ alpha and changed defaults

def _process(**network) -> object:
    data = copy.deepcopy(STOCK_UI_JOB)
    data["config"]["process"][0]["network"] = network
    return validate_config_data(data).job.config.process[0]


@pytest.mark.parametrize("rank", [4, 16, 32, 128])
def test_absent_alpha_is_the_rank(rank):
    proc = _process(linear=rank)
    assert proc.network.linear_alpha == rank
    assert f"= {rank}/{rank} = 1" in startup_notes(proc)[0]


def test_explicit_alpha_is_honoured_and_the_ai_toolkit_difference_said():
    proc = _process(linear=32, alpha=16)
    assert proc.network.linear_alpha == 16
    line = startup_notes(proc)[0]
    assert "16/32 = 0.5" in line and "ai-toolkit forces alpha = rank" in line
    assert "ai-toolkit forces" not in startup_notes(_process(linear=32, alpha=32))[0]


def test_changed_defaults_listed_with_value_and_off_key_unless_set():
    proc = _process(linear=32)
    notes = startup_notes(proc)[-1]
    for text in ("train.noise_offset = 0.05", "train.noise_offset: 0", "network.rank_dropout = 0.1",
                 "network.rank_dropout: 0", "train.audio_preservation = base", "train.audio_preservation: none",
                 "train.auto_balance_audio_loss = true", "train.independent_audio_timestep = true"):
        assert text in notes, text
    data = copy.deepcopy(STOCK_UI_JOB)
    data["config"]["process"][0]["train"].update(noise_offset=0.05, independent_audio_timestep=False)
    data["config"]["process"][0]["network"]["rank_dropout"] = 0.1
    notes = startup_notes(validate_config_data(data).job.config.process[0])[-1]
    assert "noise_offset" not in notes and "rank_dropout" not in notes and "independent_audio_timestep" not in notes
    assert "auto_balance_audio_loss = true" in notes


# ------------------------------------------------------------------ dataset defaults that keep the voice

def _dataset(**ds) -> tuple[object, list[str]]:
    data = copy.deepcopy(STOCK_UI_JOB)
    data["config"]["process"][0]["datasets"] = [dict({"folder_path": "/d"}, **ds)]
    loaded = validate_config_data(data)
    return loaded.job.config.process[0].datasets[0], loaded.warnings


def test_shrink_with_audio_keeps_natural_speed_unless_opted_in():
    ds, warnings = _dataset(num_frames=17, do_audio=True, shrink_video_to_frames=True)
    assert ds.shrink_video_to_frames is False and ds.do_audio
    assert len(warnings) == 1 and "shrink_video_with_audio: true" in warnings[0]
    ds, warnings = _dataset(num_frames=17, shrink_video_to_frames=True, shrink_video_with_audio=True)
    assert ds.shrink_video_to_frames is True and ds.do_audio and ds.audio_preserve_pitch and warnings == []
    ds, warnings = _dataset(num_frames=17, do_audio=False, shrink_video_to_frames=True)
    assert ds.shrink_video_to_frames is True and warnings == []


def test_one_frame_clips_train_as_stills_without_audio():
    ds, warnings = _dataset(num_frames=1, do_audio=True)
    assert ds.do_audio is False
    assert len(warnings) == 1 and "num_frames: 1" in warnings[0] and "stills" in warnings[0]
    ds, warnings = _dataset(num_frames=1)
    assert ds.do_audio is False and warnings == []
