"""Every key upstream ai-toolkit reads that this trainer accepts without a field of its own.

A config written for ai-toolkit (by hand, or saved by its web UI) may hold any key that
ai-toolkit's config classes read. Each one here is accepted and dropped by the loader; a
key set to a value that would change what ai-toolkit does gets ONE warning saying why it
has no effect here. A key at its *neutral* value (the feature off, an empty list, the
value ai-toolkit's UI always writes, or a value that behaves the same in both trainers)
is dropped silently, so a stock file from ai-toolkit's UI loads without console noise.
Any key outside this table and the schema stays an error that names the closest key.

Table: section -> {key: UpstreamKey(why, neutral)}. ``neutral(value, section_dict)`` says
whether the value is harmless. Key names are facts about the public project.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Neutral = Callable[[Any, dict], bool]


@dataclass(frozen=True)
class UpstreamKey:
    """One accepted upstream key: why it does nothing here, and which values are harmless."""

    why: str
    neutral: Neutral


def _same(a: Any, b: Any) -> bool:
    """Equality that keeps true apart from 1 (YAML and JSON both distinguish them)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, str) and isinstance(b, str):
        return a.strip().lower() == b.strip().lower()
    return a == b


def _empty(value: Any) -> bool:
    return value is None or value is False or (isinstance(value, (str, list, dict)) and not value)


def off(*values: Any) -> Neutral:
    """Neutral when the value is empty/None/false or one of ``values``."""
    return lambda value, _section: _empty(value) or any(_same(value, v) for v in values)


def only(*values: Any) -> Neutral:
    """Neutral when absent (None) or one of ``values``: for keys whose ``false`` is the
    setting that has no effect here (``train_unet: false``, ``buckets: false``)."""
    return lambda value, _section: value is None or any(_same(value, v) for v in values)


def always(_value: Any, _section: dict) -> bool:
    """Bookkeeping keys, and settings that behave the same in both trainers."""
    return True


def _dict_flag_off(flag: str) -> Neutral:
    """A sub-section (``ema_config``) whose feature is off unless ``flag`` is true."""
    return lambda value, _s: _empty(value) or (isinstance(value, dict) and not value.get(flag))


def _unless_lokr(value: Any, section: dict) -> bool:
    return str(section.get("type", "lora")).strip().lower() != "lokr" or _empty(value)


def _keys(names: str, why: str, neutral: Neutral = off()) -> dict[str, UpstreamKey]:
    return {name.strip(): UpstreamKey(why, neutral) for name in names.split(",") if name.strip()}


# Companion settings of a feature that is itself in this table: the feature's own key warns
# when it is on, so its parameters never add a second warning.
COMPANION = always

_OTHER_MODELS = "a flag of another model family; LTX-2 is chosen by model.arch"
_NO_REFINER = "LTX-2 has no refiner"
_NOT_IMPLEMENTED = "not implemented in this trainer"
_NO_CONTROL = "control, inpaint and mask images are not supported for LTX-2 here"
_NO_CLIP_VISION = "LTX-2 has no CLIP vision encoder"

UPSTREAM_KEYS: dict[str, dict[str, UpstreamKey]] = {
    "process": {
        **_keys("name", "the run folder is named by config.name"),
        **_keys("sqlite_db_path", "ai-toolkit's UI job database is not used", always),
        **_keys("log_dir", "logs and metrics are written to <training_folder>/<name>/"),
        **_keys("training_seed", "use train.seed"),
        **_keys("first_sample", "use train.skip_first_sample"),
        **_keys("torch_profiler", _NOT_IMPLEMENTED),
        **_keys("do_lorm", "LoRM is not supported"),
        **_keys("lorm_extract_mode, lorm_extract_mode_param", "LoRM is not supported", COMPANION),
        **_keys("adapter", "IP/T2I/control adapters are not supported for LTX-2"),
        **_keys("embedding", "textual-inversion embeddings are not supported for LTX-2"),
        **_keys("decorator", "decorator training is not supported for LTX-2"),
        **_keys("guidance", "guidance training is not supported for LTX-2"),
        **_keys("slider", "slider training is not supported for LTX-2"),
    },
    "network": {
        **_keys("conv, conv_alpha", "LTX-2's transformer has no conv layers that take adapters", always),
        **_keys("lokr_full_rank", "LoKr rank comes from linear and lokr_factor here", _unless_lokr),
        **_keys("split_multistage_loras", "LTX-2 is a single-stage model", always),
        **_keys("old_lokr_format", "LoKr files are written in the current format"),
        **_keys("lorm", "LoRM is not supported"),
        **_keys("layer_offloading", "use model.layer_offloading"),
        **_keys("transformer_only", "Gemma is never trained; set train.train_text_encoder to train the "
                                    "text connectors", only(True)),
        **_keys("all_layers", "adapters go on the transformer's attention and feed-forward layers; "
                              "choose them with network_kwargs"),
    },
    "train": {
        **_keys("ema_config", "EMA of the adapter weights is not implemented", _dict_flag_off("use_ema")),
        **_keys("xformers", "attention always uses PyTorch SDPA"),
        **_keys("sdp", "attention always uses PyTorch SDPA", always),
        **_keys("attention_backend", "attention always uses PyTorch SDPA", off("native", "sdpa", "sdp")),
        **_keys("weight_jitter", _NOT_IMPLEMENTED, off(0)),
        **_keys("train_unet", "the transformer is always the trained model", only(True)),
        **_keys("bypass_guidance_embedding", "LTX-2 has no guidance embedding", always),
        **_keys("force_first_sample", "use skip_first_sample / disable_sampling"),
        **_keys("switch_boundary_every", "LTX-2 is a single-stage model", always),
        **_keys("unet_lr, text_encoder_lr, refiner_lr, embedding_lr, adapter_lr",
                "one learning rate (train.lr) for the adapter"),
        **_keys("min_denoising_steps", "timesteps come from timestep_type", off(0)),
        **_keys("max_denoising_steps", "timesteps come from timestep_type", off(999, 1000)),
        **_keys("num_train_timesteps", "timesteps come from timestep_type", off(1000)),
        **_keys("linear_timesteps, linear_timesteps2", "use timestep_type: linear"),
        **_keys("next_sample_timesteps", "timesteps come from timestep_type"),
        **_keys("do_paramiter_swapping", _NOT_IMPLEMENTED),
        **_keys("paramiter_swapping_factor", _NOT_IMPLEMENTED, COMPANION),
        **_keys("train_refiner", _NO_REFINER, always),
        **_keys("train_turbo, show_turbo_outputs", "turbo training is not supported"),
        **_keys("snr_gamma", "use min_snr_gamma (keep 0 for flow matching)", off(0)),
        **_keys("learnable_snr_gos", _NOT_IMPLEMENTED),
        **_keys("merge_network_on_save", "the LoRA is always saved unmerged"),
        **_keys("merge_network_on_save_strength", "the LoRA is always saved unmerged", COMPANION),
        **_keys("start_step", "resume continues from the last checkpoint's step", off(0)),
        **_keys("free_u", "FreeU is a UNet technique"),
        **_keys("adapter_assist_name_or_path", "no assistant adapter for LTX-2"),
        **_keys("adapter_assist_type, match_adapter_assist, match_adapter_chance",
                "no assistant adapter for LTX-2", COMPANION),
        **_keys("noise_multiplier, target_noise_multiplier, img_multiplier, noisy_latent_multiplier, "
                "latent_multiplier, pred_scaler",
                "flow-matching inputs and targets are not rescaled here", off(1)),
        **_keys("random_noise_multiplier, random_noise_shift", "noise is not randomised beyond "
                "noise_offset here", off(0)),
        **_keys("do_signal_correction_noise, do_batch_noise_correction, do_signal_amplification",
                _NOT_IMPLEMENTED),
        **_keys("batch_noise_correction_scale, signal_amplification_strength, signal_correction_noise_scale",
                _NOT_IMPLEMENTED, COMPANION),
        **_keys("negative_prompt", "negative-prompt training is not supported; sample.neg sets the "
                                   "sampling negative prompt"),
        **_keys("max_negative_prompts", "negative-prompt training is not supported", COMPANION),
        **_keys("reg_weight", "use datasets[].loss_multiplier on the regularisation dataset", off(1)),
        **_keys("adaptive_scaling_factor", _NOT_IMPLEMENTED),
        **_keys("prompt_dropout_prob", "use datasets[].caption_dropout_rate", off(0)),
        **_keys("match_noise_norm", _NOT_IMPLEMENTED),
        **_keys("short_and_long_captions", "captions are used as written"),
        **_keys("short_and_long_captions_encoder_split", "captions are used as written", COMPANION),
        **_keys("single_item_batching", "batches are bucketed by size"),
        **_keys("loss_target", "the loss target is the flow-matching velocity", off("noise")),
        **_keys("inverted_mask_prior", "loss masks are not supported"),
        **_keys("inverted_mask_prior_multiplier", "loss masks are not supported", COMPANION),
        **_keys("blank_prompt_preservation", "use diff_output_preservation or audio_preservation"),
        **_keys("blank_prompt_preservation_multiplier", "blank-prompt preservation is not supported",
                COMPANION),
        **_keys("standardize_images, standardize_latents", "latents are used as the VAE makes them"),
        **_keys("do_cfg, do_random_cfg", "CFG training is not supported"),
        **_keys("cfg_scale, max_cfg_scale, cfg_rescale", "CFG training is not supported", COMPANION),
        **_keys("correct_pred_norm", _NOT_IMPLEMENTED),
        **_keys("correct_pred_norm_multiplier", _NOT_IMPLEMENTED, COMPANION),
        **_keys("t0_loss_target", "the loss target is the flow-matching velocity", COMPANION),
        **_keys("t0_velocity_equiv_weight, do_fft_velocity_equiv_weight", _NOT_IMPLEMENTED, COMPANION),
        **_keys("do_fft_loss", "use loss_type"),
        **_keys("prompt_saturation_chance", _NOT_IMPLEMENTED, off(0)),
        **_keys("do_prior_divergence", _NOT_IMPLEMENTED),
        **_keys("target_norm_std", _NOT_IMPLEMENTED),
        **_keys("target_norm_std_value", _NOT_IMPLEMENTED, COMPANION),
        **_keys("latent_feature_extractor_path, diffusion_feature_extractor_path",
                "feature-extractor losses are not supported for LTX-2"),
        **_keys("latent_feature_loss_weight, diffusion_feature_extractor_weight",
                "feature-extractor losses are not supported for LTX-2", COMPANION),
        **_keys("optimal_noise_pairing_samples", _NOT_IMPLEMENTED, off(1)),
        **_keys("force_consistent_noise, blended_blur_noise", _NOT_IMPLEMENTED),
        **_keys("do_guidance_loss", "guidance loss is not supported"),
        **_keys("guidance_loss_target, do_guidance_loss_cfg_zero, guidance_loss_schedule, unconditional_prompt",
                "guidance loss is not supported", COMPANION),
        **_keys("do_differential_guidance", "differential guidance is not supported"),
        **_keys("differential_guidance_scale", "differential guidance is not supported", COMPANION),
        **_keys("do_blank_stabilization", _NOT_IMPLEMENTED),
        **_keys("max_loss_debug", "losses are written to metrics.jsonl", always),
        **_keys("max_loss", "non-finite losses are skipped (max_nonfinite_steps); large ones are "
                            "not clipped here"),
        **_keys("validation_config", "ai-toolkit's image validation items are not read: use validation_datasets "
                                     "(held-out clips, audio files) and train.validate_every",
                lambda v, _s: _empty(v) or (isinstance(v, dict) and not v.get("validation_items"))),
    },
    "model": {
        **_keys("is_v2, is_xl, is_pixart, is_pixart_sigma, is_auraflow, is_v3, is_flux, is_lumina2, "
                "use_flux_cfg, is_ssd, is_vega, is_v_pred, experimental_xl, use_text_encoder_1, "
                "use_text_encoder_2, unet_sample_size, latent_space_version", _OTHER_MODELS),
        **_keys("quantize_kwargs", "quantization is set by quantize/qtype"),
        **_keys("assistant_lora_path", "no assistant LoRA for LTX-2"),
        **_keys("inference_lora_path, lora_path, unconditional_lora_path",
                "use network.pretrained_lora_path to start from a LoRA"),
        **_keys("vae_path, unet_path, model_paths",
                "components load from name_or_path, te_name_or_path, extras_name_or_path and model_kwargs"),
        **_keys("refiner_name_or_path, refiner_start_at", _NO_REFINER),
        **_keys("accuracy_recovery_adapter", "accuracy-recovery adapters are not supported"),
        **_keys("dtype", "train.dtype sets the compute dtype"),
        **_keys("vae_dtype, te_dtype", "train.dtype sets every component's dtype"),
        **_keys("vae_device, te_device", "components are placed by low_vram and layer_offloading"),
        **_keys("text_encoder_bits", "use quantize_te / qtype_te", off(16)),
        **_keys("split_model_over_gpus", "use model.fsdp under accelerate launch"),
        **_keys("split_model_other_module_param_count_scale", "use model.fsdp", COMPANION),
        **_keys("attn_masking", "LTX-2 always uses prompt attention masks", always),
        **_keys("ignore_if_contains, only_if_contains", "use network.network_kwargs to pick the "
                                                        "adapted layers"),
        **_keys("auto_memory", "use low_vram and layer_offloading"),
        **_keys("block_compile", "compile compiles the whole transformer"),
        **_keys("compile_mode, compile_fullgraph, compile_dynamic, cache_size_limit",
                "compile settings other than model.compile are not read", COMPANION),
        **_keys("in_context", "in-context (IC) LoRA training is not supported"),
    },
    "datasets": {
        **_keys("cache_clip_vision_to_disk, clip_image_path, clip_image_from_same_folder",
                _NO_CLIP_VISION),
        **_keys("clip_image_augmentations, clip_image_shuffle_augmentations", _NO_CLIP_VISION, COMPANION),
        **_keys("controls, control_path, control_path_1, control_path_2, control_path_3, inpaint_path, "
                "mask_path, unconditional_path, control_from_same_folder", _NO_CONTROL),
        **_keys("num_controls_from_same_folder, control_transparent_color, full_size_control_images, "
                "mask_min_value, invert_mask", _NO_CONTROL, COMPANION),
        **_keys("alpha_mask", "loss masks are not supported"),
        **_keys("network_weight", "use loss_multiplier", off(1)),
        **_keys("shuffle_tokens, use_short_captions", "captions are used as written"),
        **_keys("keep_tokens", "captions are used as written", COMPANION),
        **_keys("token_dropout_rate", "use caption_dropout_rate", off(0)),
        **_keys("random_triggers", "use trigger_word"),
        **_keys("random_triggers_max", "use trigger_word", COMPANION),
        **_keys("trigger_word", "use the process-level trigger_word"),
        **_keys("diff_output_preservation", "use train.diff_output_preservation"),
        **_keys("diff_output_preservation_class", "use train.diff_output_preservation_class", COMPANION),
        **_keys("buckets", "bucketing is always on", only(True)),
        **_keys("bucket_tolerance", "bucketing is always on (multiples of 32)", COMPANION),
        **_keys("random_crop, square_crop", "frames are resized to the bucket and centre-cropped"),
        **_keys("random_scale", "frames are resized to the bucket, not scaled at random"),
        **_keys("scale", "frames are resized to the bucket", off(1)),
        **_keys("augments, augmentations", "augmentations other than flips are not supported"),
        **_keys("shuffle_augmentations, replay_transforms", "augmentations other than flips are "
                                                            "not supported", COMPANION),
        **_keys("prefetch_factor, cache_latents_num_workers", "items are encoded once, before "
                                                              "training, in one process", always),
        **_keys("num_workers", "items are encoded once, before training; there is no loader to "
                               "parallelise", off(0)),
        **_keys("cache_latents", "latents are always cached (in memory, or on disk with "
                                 "cache_latents_to_disk)", only(True)),
        **_keys("cache_tensors_to_disk, load_image_when_caching_latents", "use cache_latents_to_disk"),
        **_keys("fast_image_size, debug", "not needed", always),
        **_keys("batch_size", "use train.batch_size", off(1)),
        **_keys("type", "every dataset is a folder of media and captions", off("image", "video")),
        **_keys("dataset_path", "use folder_path"),
        **_keys("is_reg", "regularisation items train like the others here; weight them with "
                          "datasets[].loss_multiplier"),
        **_keys("prior_reg", "regularisation items train like the others; use loss_multiplier"),
        **_keys("poi", "point-of-interest cropping is not supported"),
        **_keys("standardize_images", "pixels are used as decoded"),
        **_keys("caption_type", "use caption_ext", off("txt")),
        **_keys("guidance_type", _NOT_IMPLEMENTED, off("targeted")),
        **_keys("replacements", "captions are used as written"),
        **_keys("extra_values", "not used by LTX-2"),
        **_keys("trim_auto_frame_count_tail", "auto_frame_count keeps whole 8k+1 windows from the "
                                              "clip's start", COMPANION),
    },
    "save": {
        **_keys("push_to_hub", "uploading is not part of the trainer"),
        **_keys("hf_repo_id, hf_private", "uploading is not part of the trainer", COMPANION),
        # A LoRA is one .safetensors file in both trainers; 'diffusers' is what ai-toolkit's UI writes.
        **_keys("save_format", "LoRA files are always .safetensors; see save.format",
                off("safetensors", "diffusers")),
    },
    "samples": {
        **_keys("network_multiplier", "samples always use the adapter at strength 1.0", off(1)),
        **_keys("ctrl_idx", "control images are not supported", COMPANION),
        **_keys("ctrl_img_1, ctrl_img_2, ctrl_img_3", "only ctrl_img (the first frame) is used"),
        **_keys("do_cfg_norm", "CFG normalisation is not used by the LTX-2 pipeline"),
    },
    "sample": {
        **_keys("network_multiplier", "samples always use the adapter at strength 1.0", off(1)),
        **_keys("guidance_rescale", "not used by the LTX-2 pipeline", off(0)),
        **_keys("format, ext", "LTX-2 samples are always mp4 with audio", off("mp4")),
        **_keys("refiner_start_at", _NO_REFINER),
        **_keys("adapter_conditioning_scale", "no adapters besides the trained network", off(1)),
        **_keys("extra_values", "not used by LTX-2"),
        **_keys("do_cfg_norm", "CFG normalisation is not used by the LTX-2 pipeline"),
    },
    "logging": {
        **_keys("use_wandb", "metrics go to metrics.jsonl (and TensorBoard if use_tensorboard)"),
        **_keys("project_name, run_name", "only used with wandb", COMPANION),
        # ai-toolkit's UI logs into its job database; our UI reads the run folder itself.
        **_keys("use_ui_logger", "the web UI reads the run folder", always),
        **_keys("verbose", "use run.py --verbose"),
    },
}

# The shape the schema export and the web UI read: section -> {key: why}.
IGNORED_UPSTREAM_KEYS: dict[str, dict[str, str]] = {
    section: {key: spec.why for key, spec in keys.items()} for section, keys in UPSTREAM_KEYS.items()
}
