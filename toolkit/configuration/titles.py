"""Human labels of config keys, shown by the web UI's form and in docs/config.md.

Keys are dotted paths without list markers, relative to a process for the keys of a
process (the same style as ``toolkit.configuration.model_defaults``): ``network.linear``,
``datasets.num_frames``, ``sample.samples.prompt``; the file's top-level keys are
``job``, ``config``, ``meta`` and ``config.name``, ``config.process``.

One table for every key, kept apart from the pydantic models so that the labels of all
sections read together (and so that editing a label never touches the schema module).
``tests/test_config_titles.py`` fails when an exported key has no label here.
"""

from __future__ import annotations

PROCESS_PREFIX = "config.process[]"

TITLES: dict[str, str] = {
    # the file
    "job": "Job type",
    "config": "Config",
    "meta": "Metadata",
    "config.name": "Job name",
    "config.process": "Processes",
    # a process
    "type": "Process type",
    "training_folder": "Output folder",
    "device": "Device",
    "trigger_word": "Trigger word",
    "performance_log_every": "Performance log interval",
    "network": "Network",
    "train": "Training",
    "model": "Model",
    "datasets": "Datasets",
    "validation_datasets": "Validation datasets",
    "save": "Saving",
    "sample": "Samples",
    "logging": "Logging",
    # datasets
    "datasets.folder_path": "Dataset folder",
    "datasets.caption_ext": "Caption extension",
    "datasets.default_caption": "Default caption",
    "datasets.caption_dropout_rate": "Caption dropout",
    "datasets.resolution": "Resolution",
    "datasets.num_frames": "Frames per clip",
    "datasets.fps": "Frame rate",
    "datasets.shrink_video_to_frames": "Spread frames over the whole clip",
    "datasets.shrink_video_with_audio": "Spread frames even with audio",
    "datasets.auto_frame_count": "Automatic frame count",
    "datasets.do_audio": "Train on audio",
    "datasets.audio_normalize": "Normalise audio loudness",
    "datasets.audio_preserve_pitch": "Preserve audio pitch",
    "datasets.do_i2v": "Image-to-video conditioning",
    "datasets.direction": "Training direction",
    "datasets.flip_x": "Mirror horizontally",
    "datasets.flip_y": "Mirror vertically",
    "datasets.num_repeats": "Repeats per epoch",
    "datasets.window_variants": "Window variants per clip",
    "datasets.cache_latents_to_disk": "Cache latents on disk",
    "datasets.cache_text_embeddings": "Cache text embeddings",
    "datasets.loss_multiplier": "Loss multiplier",
    # logging
    "logging.log_every": "Log interval (steps)",
    "logging.use_tensorboard": "TensorBoard",
    # model
    "model.name_or_path": "Model path or hub id",
    "model.arch": "Architecture",
    "model.quantize": "Quantize transformer",
    "model.qtype": "Transformer quantization type",
    "model.quantize_te": "Quantize text encoder",
    "model.qtype_te": "Text encoder quantization type",
    "model.low_vram": "Low VRAM mode",
    "model.layer_offloading": "Layer offloading (block swap)",
    "model.layer_offloading_transformer_percent": "Transformer layers offloaded",
    "model.layer_offloading_text_encoder_percent": "Text encoder layers offloaded",
    "model.text_encoder_placement": "Where captions are encoded",
    "model.vae_tiling": "Tiled VAE",
    "model.compile": "Compile transformer",
    "model.fsdp": "Shard the model (FSDP)",
    "model.te_name_or_path": "Text encoder path",
    "model.extras_name_or_path": "Extra components path",
    "model.model_kwargs": "Extra model arguments",
    "model.model_kwargs.dit_path": "Transformer file",
    "model.model_kwargs.text_encoder_path": "Text encoder file",
    "model.model_kwargs.video_vae_path": "Video VAE file",
    "model.model_kwargs.audio_vae_path": "Audio VAE file",
    "model.model_kwargs.cross_timestep_routing": "Cross-attention timestep routing",
    "model.model_kwargs.use_cross_timestep": "Cross-timestep modulation",
    "model.model_kwargs.compile_backend": "Compile backend",
    "model.model_kwargs.compile_mode": "Compile mode",
    # network
    "network.type": "Network type",
    "network.linear": "Rank",
    "network.linear_alpha": "Alpha",
    "network.dropout": "Dropout",
    "network.rank_dropout": "Rank dropout",
    "network.module_dropout": "Module dropout",
    "network.lokr_factor": "LoKr factor",
    "network.network_kwargs": "Network options",
    "network.network_kwargs.only_if_contains": "Only modules containing",
    "network.network_kwargs.ignore_if_contains": "Skip modules containing",
    "network.pretrained_lora_path": "Start from LoRA file",
    "network.train_audio_modules": "Train audio modules",
    "network.audio_linear": "Audio rank",
    "network.audio_linear_alpha": "Audio alpha",
    # sample
    "sample.sampler": "Sampler",
    "sample.sample_every": "Sample interval (steps)",
    "sample.sample_start_step": "First sample step",
    "sample.voice_metric": "Voice similarity of samples",
    "sample.audio_only": "Write samples' sound as .wav",
    "sample.audio_guidance_scale": "Audio guidance scale",
    "sample.samples.audio_guidance_scale": "Audio guidance scale",
    "sample.stg_scale": "STG scale (video)",
    "sample.audio_stg_scale": "STG scale (audio)",
    "sample.width": "Width",
    "sample.height": "Height",
    "sample.num_frames": "Frames",
    "sample.fps": "Frame rate",
    "sample.guidance_scale": "Guidance scale",
    "sample.sample_steps": "Denoising steps",
    "sample.seed": "Seed",
    "sample.walk_seed": "New seed per prompt",
    "sample.neg": "Negative prompt",
    "sample.samples": "Prompts",
    "sample.samples.prompt": "Prompt",
    "sample.samples.width": "Width",
    "sample.samples.height": "Height",
    "sample.samples.num_frames": "Frames",
    "sample.samples.fps": "Frame rate",
    "sample.samples.seed": "Seed",
    "sample.samples.guidance_scale": "Guidance scale",
    "sample.samples.sample_steps": "Denoising steps",
    "sample.samples.neg": "Negative prompt",
    "sample.samples.ctrl_img": "Control image",
    # save
    "save.dtype": "Saved precision",
    "save.save_every": "Save interval (steps)",
    "save.max_step_saves_to_keep": "Checkpoints to keep",
    "save.format": "File format",
    # train
    "train.steps": "Steps",
    "train.batch_size": "Batch size",
    "train.gradient_accumulation": "Gradient accumulation",
    "train.lr": "Learning rate",
    "train.audio_lr": "Audio learning rate",
    "train.optimizer": "Optimizer",
    "train.optimizer_params": "Optimizer options",
    "train.lr_scheduler": "Learning rate schedule",
    "train.lr_warmup_steps": "Warm-up steps",
    "train.lr_scheduler_params": "Schedule options",
    "train.noise_scheduler": "Noise scheduler",
    "train.timestep_type": "Timestep sampling",
    "train.content_or_style": "Content or style bias",
    "train.dtype": "Training precision",
    "train.gradient_checkpointing": "Gradient checkpointing",
    "train.lora_precision": "LoRA math precision",
    "train.lora_cast_before_add": "Cast LoRA output before adding",
    "train.offload_checkpoints": "Checkpointed inputs in host memory",
    "train.ff_chunk_tokens": "Feed-forward chunk (tokens)",
    "train.optimizer_offload": "Optimizer in host memory",
    "train.max_grad_norm": "Gradient clipping norm",
    "train.loss_type": "Loss type",
    "train.noise_offset": "Noise offset",
    "train.dynamic_noise_offset": "Dynamic noise offset",
    "train.min_snr_gamma": "Min-SNR gamma",
    "train.train_text_encoder": "Train text connectors",
    "train.cache_text_embeddings": "Cache text embeddings",
    "train.unload_text_encoder": "Unload text encoder",
    "train.diff_output_preservation": "Differential output preservation",
    "train.diff_output_preservation_multiplier": "Preservation strength",
    "train.diff_output_preservation_class": "Preservation class word",
    "train.skip_first_sample": "Skip the first sample",
    "train.disable_sampling": "Disable sampling",
    "train.seed": "Seed",
    "train.audio_loss_multiplier": "Audio loss multiplier",
    "train.auto_balance_audio_loss": "Auto-balance audio loss",
    "train.auto_balance_target_ratio": "Audio/video loss target ratio",
    "train.audio_balance_mode": "Audio loss balance",
    "train.audio_batch_min_ratio": "Minimum share of batches with voice",
    "train.video_to_audio_probability": "Video-to-audio share",
    "train.audio_to_video_probability": "Audio-to-video share",
    "train.validate_every": "Validation interval (steps)",
    "train.independent_audio_timestep": "Independent audio timestep",
    "train.audio_preservation": "Voice preservation",
    "train.audio_preservation_multiplier": "Voice preservation strength",
    "train.strict_audio_mode": "Strict audio mode",
    "train.strict_audio_min_supervised_ratio": "Minimum share with speech",
    "train.strict_audio_warmup_steps": "Strict audio warm-up steps",
    "train.max_nonfinite_steps": "Non-finite steps allowed",
}

# validation_datasets take the keys of datasets, with the same labels
TITLES.update({"validation_" + key: label for key, label in list(TITLES.items()) if key.startswith("datasets.")})


def title_key(section_path: str, key: str) -> str:
    """The TITLES key of `key` in the exported section `section_path` (``[]`` dropped)."""
    path = section_path
    if path == PROCESS_PREFIX or path.startswith(PROCESS_PREFIX + "."):
        path = path[len(PROCESS_PREFIX) + 1:]
    path = path.replace("[]", "")
    return f"{path}.{key}" if path else key


def title_of(section_path: str, key: str) -> str | None:
    """The label of a key, or None when the table has none (a test keeps that from shipping)."""
    return TITLES.get(title_key(section_path, key))
