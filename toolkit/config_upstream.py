"""Keys of upstream ai-toolkit configs that this trainer accepts and deliberately ignores.

Upstream reads its config with ``kwargs.get`` and its UI writes many keys that have no
meaning for LTX-2 here. A file brought from upstream must still load, so these keys are
dropped by the loader with ONE warning per key that says why; any other unknown key is
an error. Section name -> {key: reason}. (Key names are facts about the public project.)
"""

from __future__ import annotations

IGNORED_UPSTREAM_KEYS: dict[str, dict[str, str]] = {
    "network": {
        "conv": "LTX-2 has no conv layers that take adapters",
        "conv_alpha": "LTX-2 has no conv layers that take adapters",
        "lokr_full_rank": "LoKr rank comes from linear/lokr_factor here",
        "split_multistage_loras": "LTX-2 is a single-stage model",
    },
    "train": {
        "ema_config": "EMA of adapter weights is not implemented",
        "xformers": "attention always uses PyTorch SDPA",
        "sdp": "attention always uses PyTorch SDPA",
        "weight_jitter": "not implemented",
        "train_unet": "the transformer is always the trained model",
        "bypass_guidance_embedding": "LTX-2 has no guidance embedding",
        "force_first_sample": "use skip_first_sample / disable_sampling",
        "switch_boundary_every": "LTX-2 is a single-stage model",
        "unet_lr": "one learning rate (lr) for the adapter",
        "text_encoder_lr": "one learning rate (lr) for the adapter",
        "min_denoising_steps": "timesteps come from timestep_type",
        "max_denoising_steps": "timesteps come from timestep_type",
        "linear_timesteps": "use timestep_type: linear",
        "do_paramiter_swapping": "not implemented",
        "paramiter_swapping_factor": "not implemented",
    },
    "model": {
        "quantize_kwargs": "quantization is set by quantize/qtype",
        "assistant_lora_path": "no assistant LoRA for LTX-2",
        "inference_lora_path": "no inference LoRA for LTX-2",
        "accuracy_recovery_adapter": "not implemented",
        "dtype": "train.dtype sets the compute dtype",
        "split_model_over_gpus": "single-GPU trainer",
        "attn_masking": "LTX-2 always uses prompt attention masks",
    },
    "datasets": {
        "cache_clip_vision_to_disk": "LTX-2 has no CLIP vision encoder",
        "controls": "control datasets are not supported",
        "control_path": "control datasets are not supported",
        "inpaint_path": "inpainting is not supported",
        "mask_path": "loss masks are not supported",
        "mask_min_value": "loss masks are not supported",
        "network_weight": "use loss_multiplier",
        "shuffle_tokens": "captions are used as written",
        "token_dropout_rate": "use caption_dropout_rate",
        "keep_tokens": "captions are used as written",
        "random_triggers": "use trigger_word",
        "buckets": "bucketing is always on",
        "bucket_tolerance": "bucketing is always on",
        "random_crop": "frames are resized to the bucket, not cropped at random",
        "random_scale": "frames are resized to the bucket, not scaled at random",
        "augments": "augmentations other than flips are not supported",
        "prefetch_factor": "set by the data loader",
        "fast_image_size": "not needed",
        "debug": "not needed",
    },
    "save": {
        "push_to_hub": "uploading is not part of the trainer",
        "hf_repo_id": "uploading is not part of the trainer",
        "hf_private": "uploading is not part of the trainer",
        "save_format": "LoRA files are always .safetensors; see save.format",
    },
    "samples": {
        "network_multiplier": "samples always use the adapter at strength 1.0",
        "ctrl_idx": "control images are not supported",
    },
    "sample": {
        "network_multiplier": "samples always use the adapter at strength 1.0",
        "guidance_rescale": "not used by the LTX-2 pipeline",
        "format": "LTX-2 samples are always mp4 with audio",
        "ext": "LTX-2 samples are always mp4 with audio",
        "refiner_start_at": "LTX-2 has no refiner",
        "adapter_conditioning_scale": "no adapters besides the trained network",
        "extra_values": "not used by LTX-2",
    },
    "logging": {
        "use_wandb": "metrics go to metrics.jsonl (and TensorBoard if use_tensorboard)",
        "project_name": "only used with wandb",
        "run_name": "only used with wandb",
    },
    "process": {
        "sqlite_db_path": "the upstream UI's job database is not used",
    },
}
