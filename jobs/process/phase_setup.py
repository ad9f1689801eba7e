"""The run's phases (docs/memory.md, "Phases"): what is resolved at start-up, and caption encoding.

The model adapter holds, per phase, only the components that phase uses
(extensions_built_in/diffusion_models/ltx2/phases.py). Here the run decides the start-up
choices the adapter needs (toolkit/memory/placement.py: where Gemma runs, whether the video
VAE tiles, how large a training item is), then runs the caption phases: Gemma encodes every
prompt the run will ever need (captions, the empty caption-dropout prompt, the class-word
captions of differential output preservation, sample prompts and their negatives), is freed,
and the frozen connectors turn each into what the transformer reads, then are freed too.
"""

from __future__ import annotations

import os

import psutil
import torch

from jobs.process.dataset_setup import dataset_specs
from jobs.process.run_state import RunState
from jobs.process.settings_build import batch_settings
from toolkit.dataloader_mixins import dataset_captions
from toolkit.memory.placement import TextEncoderNeed, choose_text_encoder, choose_vae_tiling
from toolkit.memory.startup import PLAN_ENV, device_capacity, run_shape
from toolkit.run.sampling import sample_jobs
from toolkit.train.batch_builder import TextCache, run_prompts


class Phases:
    """The run's phases: the start-up choices, entering a phase, the caption phases."""

    def __init__(self, state: RunState):
        self.state = state

    def sampling_on(self) -> bool:
        config = self.state.config
        return not config.train.disable_sampling and bool(config.sample.samples)

    def sample_prompts(self) -> list[str]:
        if not self.sampling_on():
            return []
        jobs = sample_jobs(self.state.config.sample, self.state.config.trigger_word)
        return list(dict.fromkeys([j.prompt for j in jobs] + [j.negative or "" for j in jobs]))

    def train_prompts(self) -> set[str]:
        cfg = self.state.config
        captions = set()
        for _, spec in dataset_specs(cfg, self.state.out, quiet=True):
            captions |= dataset_captions(spec)
        for _, spec in dataset_specs(cfg, self.state.out, cfg.validation_datasets, quiet=True):  # validation losses
            captions |= dataset_captions(spec)
        dropout = any(ds.caption_dropout_rate > 0 for ds in cfg.datasets)
        return run_prompts(captions, batch_settings(cfg), dropout)

    def resolve(self, prompts: int, decode_room: float | None = None) -> None:
        """The adapter's start-up choices, each said in the log: where Gemma encodes the
        captions, whether the video VAE tiles, the largest training item (sampling's rule).
        `decode_room`: the memory plan's room for a sample's decode (what a training step's own
        work holds), so sampling needs no more than a training step."""
        cfg, settings = self.state.config, self.state.model.settings
        model = cfg.model
        free, host = self._free_memory()
        choice = choose_text_encoder(TextEncoderNeed(
            requested=model.text_encoder_placement, params=self.state.model.component_params("text_encoder"),
            dtype_bytes=torch.empty((), dtype=settings.dtype).element_size(),
            qtype=model.qtype_te if model.quantize_te else None,
            may_quantize="quantize_te" not in model.model_fields_set, device_type=self.state.device.type,
            device_free=free, host_free=host, prompts=prompts))
        settings.text_encoder_placement = choice.placement
        if choice.qtype is not None and not settings.quantize_te:
            settings.quantize_te, settings.qtype_te = True, choice.qtype
        self.state.out.info(choice.describe())
        clip_budget = free if free is not None else host
        sample_budget = clip_budget - self._transformer_resting_bytes()
        if decode_room is not None:
            sample_budget = min(sample_budget, decode_room)
        tiling = choose_vae_tiling(model.vae_tiling, self._largest_clip(), self._largest_sample(), clip_budget,
                                   sample_budget, settings.vae_tile)
        settings.vae_tiling, settings.vae_decode_tiling = tiling.encode, tiling.decode
        self.state.out.info(tiling.describe())
        shape = run_shape(cfg)
        settings.train_video_tokens = shape.video_tokens * shape.batch
        settings.sampling = self.sampling_on()

    def _free_memory(self) -> tuple[int | None, int]:
        """(bytes free on the device, None on the CPU; bytes of host memory available). A
        planned card (LTX2_PLAN_DEVICE_GB) counts as empty."""
        host = int(psutil.virtual_memory().available)
        if self.state.device.type != "cuda":
            return None, host
        if os.environ.get(PLAN_ENV):
            return int(device_capacity(self.state.device)[0]), host
        return int(torch.cuda.mem_get_info(self.state.device)[0]), host

    def _largest_clip(self) -> tuple[int, int, int]:
        """(frames, height, width) of the largest clip the VAE encodes."""
        sizes = [(ds.num_frames, max(ds.resolution), max(ds.resolution)) for ds in self.state.config.datasets]
        return max(sizes, key=lambda size: size[0] * size[1] * size[2])

    def _largest_sample(self) -> tuple[int, int, int] | None:
        """(frames, height, width) of the largest sample the VAE decodes; None without sampling."""
        if not self.sampling_on():
            return None
        return max(((s.num_frames, s.height, s.width) for s in self.state.config.sample.resolved()),
                   key=lambda size: size[0] * size[1] * size[2])

    def _transformer_resting_bytes(self) -> int:
        """What the transformer keeps on the device while a sample decodes: its weights (one
        byte each when quantized), less the share layer offloading keeps on the host."""
        model, settings = self.state.config.model, self.state.model.settings
        per_param = 1 if model.quantize else torch.empty((), dtype=settings.dtype).element_size()
        resident = 1.0 - (model.layer_offloading_transformer_percent if model.layer_offloading else 0.0)
        return int(self.state.model.component_params("transformer") * per_param * resident)

    def enter(self, phase: str) -> None:
        for note in self.state.model.enter_phase(phase):
            self.state.out.info(note)

    def encode_text(self, train_prompts: set[str], sample_prompts: list[str]) -> TextCache:
        """The caption phases: Gemma's output for every prompt, then (frozen connectors) the
        connectors' output; each model leaves memory with its phase. Trained connectors run
        every step on the kept Gemma outputs instead."""
        self.enter("text")
        text = TextCache(self.state.model)
        text.keep_hidden(sample_prompts + sorted(train_prompts), progress=self.state.dist.is_main)
        self.enter("connectors")
        if not self.state.config.train.train_text_encoder:
            text.make_embeds(sample_prompts + sorted(train_prompts))
            text.hidden.clear()  # every consumer reads the connectors' output now
        self.state.out.info(f"text: {len(train_prompts)} training prompts and {len(sample_prompts)} sample prompts encoded; "
                      "the text encoder is freed"
                      + ("" if self.state.config.train.train_text_encoder else ", and the frozen connectors with it"))
        return text
