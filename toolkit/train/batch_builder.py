"""Encoded items -> TrainBatch: everything the text side adds to a step, in one place.

The run samples items, this builds the batch, the trainer computes the loss: prompts (the
run's one text cache, :class:`TextCache`), caption dropout (the empty prompt), the class-word
prompts of differential output preservation (trigger word -> class word), and the
duration-matched silence latents that stand in for audio-free items (SOP change D), made by
the dataset encoder (toolkit/dataset/silence.py). The model adapter and the loss never see
captions and keep no prompts; the run never sees prompt embeddings.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import torch

from toolkit.configuration.defaults import config_field
from toolkit.data_transfer_object.data_loader import TrainBatch, collate
from toolkit.dataset.silence import SilenceLatents


class TextCache:
    """Every prompt of the run, encoded once, in the form its consumer needs.

    * `embeds`: connector outputs (video, audio, mask) by caption, for training steps while
      the text side is frozen: fixed per caption, and at real size ~12 MB a prompt.
    * `hidden`: Gemma's stacked hidden states (on the CPU) of the prompts the connectors must
      still run on: sample prompts (diffusers' pipeline runs the connectors itself) and, when
      the connectors train, every caption (they run with gradients each step). At real size
      ~385 MB a prompt, so only those prompts keep this form.

    With `train.unload_text_encoder` Gemma leaves memory after `keep_hidden`/`embeds_for` ran
    on every prompt; a prompt not encoded before then fails in the model adapter, naming it."""

    def __init__(self, model):
        self.model = model
        self.embeds: dict[str, object] = {}  # caption -> PromptEmbeds
        self.hidden: dict[str, object] = {}  # prompt -> TextHidden on the CPU

    def embeds_for(self, prompt: str) -> object:
        """Connector outputs of `prompt` through the frozen connectors (computed once)."""
        if prompt not in self.embeds:
            with torch.no_grad():
                if prompt in self.hidden:
                    self.embeds[prompt] = self.model.run_connectors(self.hidden_for(prompt))
                else:
                    self.embeds[prompt] = self.model.encode_prompts([prompt])
        return self.embeds[prompt]

    def hidden_for(self, prompt: str) -> object:
        """Gemma's output for `prompt` on the compute device: kept, or computed now."""
        from extensions_built_in.diffusion_models.ltx2.ltx2 import TextHidden  # noqa: PLC0415 (the adapter imports toolkit, so toolkit imports the adapter's modules where used)

        kept = self.hidden.get(prompt)
        if kept is None:
            return self.model.encode_text_hidden([prompt])
        device = self.model.settings.device
        return TextHidden(kept.hidden.to(device), kept.mask.to(device))

    def keep_hidden(self, prompts: Iterable[str]) -> None:
        from extensions_built_in.diffusion_models.ltx2.ltx2 import TextHidden  # noqa: PLC0415 (the adapter imports toolkit, so toolkit imports the adapter's modules where used)

        for prompt in dict.fromkeys(prompts):
            if prompt not in self.hidden:
                text = self.model.encode_text_hidden([prompt])
                self.hidden[prompt] = TextHidden(text.hidden.cpu(), text.mask.cpu())


@dataclass
class BatchSettings:
    """The prompt keys of the train section and the trigger word; defaults are the config's."""

    train_text_encoder: bool = config_field("train.train_text_encoder")
    diff_output_preservation: bool = config_field("train.diff_output_preservation")
    diff_output_preservation_class: str = config_field("train.diff_output_preservation_class")
    unload_text_encoder: bool = config_field("train.unload_text_encoder")
    trigger_word: str | None = config_field("trigger_word")


class BatchBuilder:
    """Builds each step's batch. Needs the model adapter (prompts), the network (switched
    off for DOP base prompts when the connectors train), the data-parallel context (caption
    dropout draws for the global batch) and the run's generator (the draw order is part of
    resume and of N ranks matching one process)."""

    def __init__(self, model, network, dist, generator: torch.Generator, settings: BatchSettings,
                 device: torch.device, silence: SilenceLatents):
        self.model = model
        self.network = network
        self.dist = dist
        self.generator = generator
        self.settings = settings
        self.device = device
        self.silence_latents = silence
        self.text = TextCache(model)

    @property
    def prompt_cache(self) -> dict[str, object]:
        """caption -> connector outputs (PromptEmbeds) while the text side is frozen."""
        return self.text.embeds

    # ------------------------------------------------------------------ text, up front
    def prepare_text(self, captions, sample_prompts: list[str], log) -> None:
        """Encode every caption (with the empty caption-dropout prompt and the DOP prompts)
        and keep the sample prompts, once; with unload_text_encoder, Gemma then leaves memory
        for the rest of the run."""
        s = self.settings
        captions = set(captions) | {""}
        if s.diff_output_preservation:
            captions |= {self.dop_caption(c) for c in captions}
        # Sample prompts first: a caption that is also a sample prompt then gets its
        # connector outputs from the kept Gemma output, so Gemma runs once per distinct prompt.
        self.text.keep_hidden(sample_prompts)
        if s.train_text_encoder:
            self.text.keep_hidden(sorted(captions))  # the connectors train: they run every step
        else:
            for caption in sorted(captions):
                self.text.embeds_for(caption)
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
        bucket, so one length), as the dataset encoder made it."""
        return self.silence_latents.get(num_samples)

    def prompt_for(self, items, global_items=None) -> object:
        """Connector embeddings per item; caption dropout swaps in the empty prompt.

        Dropout draws are made for the whole global batch (every rank alike) and each rank
        keeps its rows, as for sigmas and noise."""
        from extensions_built_in.diffusion_models.ltx2.ltx2 import PromptEmbeds  # noqa: PLC0415 (the adapter imports toolkit, so toolkit imports the adapter's modules where used)

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
        distinct caption is encoded once and reused; training connectors run on every call."""
        if self.settings.train_text_encoder:
            return self.model.run_connectors(self.text.hidden_for(caption))
        return self.text.embeds_for(caption)

    def dop_caption(self, caption: str) -> str:
        """The caption for differential output preservation: trigger word -> class word."""
        return caption.replace(self.settings.trigger_word, self.settings.diff_output_preservation_class)

    def dop_prompts(self, items) -> tuple[object, object]:
        """(prompt for the network's prediction, prompt for the base target) of the class-word
        captions; they differ only when the connectors are trained (network off for the target)."""
        from extensions_built_in.diffusion_models.ltx2.ltx2 import PromptEmbeds  # noqa: PLC0415 (the adapter imports toolkit, so toolkit imports the adapter's modules where used)

        captions = [self.dop_caption(item.caption) for item in items]
        prompt = PromptEmbeds.cat([self.encode_caption(c) for c in captions])
        if not self.settings.train_text_encoder:
            return prompt, prompt
        self.network.set_enabled(False)
        try:
            with torch.no_grad():
                base = PromptEmbeds.cat([self.model.run_connectors(self.text.hidden_for(c)) for c in captions])
        finally:
            self.network.set_enabled(True)
        return prompt, base
