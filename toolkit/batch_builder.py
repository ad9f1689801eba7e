"""Encoded items -> TrainBatch: everything the text side adds to a step, in one place.

The run samples items, this builds the batch, the trainer computes the loss: prompts (one
cache of connector embeddings per distinct caption while the text side is frozen), caption
dropout (the empty prompt), the class-word prompts of differential output preservation
(trigger word -> class word), and the duration-matched silence latents that stand in for
audio-free items (SOP change D). The model adapter and the loss never see captions; the run
never sees prompt embeddings.

Silence is made on first use, once per audio length, not by the dataset encoder: items
served from the latent cache must not run a VAE again, and a cache file holds only what
its item encoded.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from toolkit.data_transfer_object.data_loader import TrainBatch, collate


@dataclass
class BatchSettings:
    train_text_encoder: bool = False
    diff_output_preservation: bool = False
    diff_output_preservation_class: str = "person"
    unload_text_encoder: bool = False
    trigger_word: str | None = None


class BatchBuilder:
    """Builds each step's batch. Needs the model adapter (prompts), the network (switched
    off for DOP base prompts when the connectors train), the data-parallel context (caption
    dropout draws for the global batch) and the run's generator (the draw order is part of
    resume and of N ranks matching one process)."""

    def __init__(self, model, network, dist, generator: torch.Generator, settings: BatchSettings,
                 device: torch.device):
        self.model = model
        self.network = network
        self.dist = dist
        self.generator = generator
        self.settings = settings
        self.device = device
        self.prompt_cache: dict[str, object] = {}  # caption -> PromptEmbeds (text side frozen)
        self.silence_cache: dict[int, torch.Tensor] = {}  # num_audio_samples -> (L, Ca) latent

    # ------------------------------------------------------------------ text, up front
    def prepare_text(self, captions, sample_prompts: list[str], log) -> None:
        """Encode every caption (with the empty caption-dropout prompt and the DOP prompts)
        and keep the sample prompts, once; with unload_text_encoder, Gemma then leaves memory
        for the rest of the run."""
        s = self.settings
        captions = set(captions) | {""}
        if s.diff_output_preservation:
            captions |= {self.dop_caption(c) for c in captions}
        if s.train_text_encoder:
            self.model.keep_text(sorted(captions))  # the connectors train: keep Gemma's output
        else:
            with torch.no_grad():
                for caption in sorted(captions - set(self.prompt_cache)):
                    self.prompt_cache[caption] = self.model.encode_prompts([caption])
        if sample_prompts:
            self.model.keep_text(sample_prompts)
        log.info(f"text embeddings cached for {len(captions)} captions")
        if s.unload_text_encoder:
            self.model.unload_text_encoder()
            log.info("text encoder unloaded (train.unload_text_encoder)")

    # ------------------------------------------------------------------ per step
    def build(self, items, global_items=None) -> TrainBatch:
        """This rank's batch of `items`; `global_items` is the whole global batch they were
        sliced from (the caption-dropout draws cover it, every rank alike)."""
        batch = collate(items, self.prompt_for(items, global_items), self.silence(items[0].num_audio_samples))
        batch.video_latents = batch.video_latents.to(self.device)
        batch.audio_latents = batch.audio_latents.to(self.device)
        if self.settings.diff_output_preservation:
            batch.dop_prompt, batch.dop_base_prompt = self.dop_prompts(items)
        return batch

    def silence(self, num_samples: int) -> torch.Tensor:
        """The packed latent (L, Ca) of `num_samples` samples of silence (a batch shares one
        bucket, so one length)."""
        if num_samples not in self.silence_cache:
            self.silence_cache[num_samples] = self.model.silent_audio_latent(num_samples)[0].cpu()
        return self.silence_cache[num_samples]

    def prompt_for(self, items, global_items=None) -> object:
        """Connector embeddings per item; caption dropout swaps in the empty prompt.

        Dropout draws are made for the whole global batch (every rank alike) and each rank
        keeps its rows, as for sigmas and noise."""
        from extensions_built_in.diffusion_models.ltx2.ltx2 import PromptEmbeds

        global_items = global_items if global_items is not None else items
        draws = [1.0] * len(items)
        if any(item.caption_dropout_rate > 0 for item in global_items):
            draws = self.dist.global_rows(lambda n: torch.rand(n, generator=self.generator), len(items)).tolist()
        embeds = []
        for item, draw in zip(items, draws, strict=True):
            drop = item.caption_dropout_rate > 0 and draw < item.caption_dropout_rate
            embeds.append(self.encode_caption("" if drop else item.caption))
        return PromptEmbeds.cat(embeds)

    def encode_caption(self, caption: str) -> object:
        """Gemma and (unless the text side trains) the connectors are frozen, so each
        distinct caption is encoded once and reused."""
        if self.settings.train_text_encoder:
            return self.model.encode_prompts([caption])
        if caption not in self.prompt_cache:
            with torch.no_grad():
                self.prompt_cache[caption] = self.model.encode_prompts([caption])
        return self.prompt_cache[caption]

    def dop_caption(self, caption: str) -> str:
        """The caption for differential output preservation: trigger word -> class word."""
        return caption.replace(self.settings.trigger_word, self.settings.diff_output_preservation_class)

    def dop_prompts(self, items) -> tuple[object, object]:
        """(prompt for the network's prediction, prompt for the base target) of the class-word
        captions; they differ only when the connectors are trained (network off for the target)."""
        from extensions_built_in.diffusion_models.ltx2.ltx2 import PromptEmbeds

        captions = [self.dop_caption(item.caption) for item in items]
        prompt = PromptEmbeds.cat([self.encode_caption(c) for c in captions])
        if not self.settings.train_text_encoder:
            return prompt, prompt
        self.network.set_enabled(False)
        try:
            with torch.no_grad():
                base = PromptEmbeds.cat([self.model.encode_prompts([c]) for c in captions])
        finally:
            self.network.set_enabled(True)
        return prompt, base
