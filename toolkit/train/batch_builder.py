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
from tqdm import tqdm

from toolkit.configuration.defaults import config_field
from toolkit.data_transfer_object.data_loader import TrainBatch, collate
from toolkit.dataset.silence import SilenceLatents


class TextCache:
    """Every prompt of the run, encoded once before training, kept on the host in the form
    its consumer needs (the run's caption-encoding phases, docs/memory.md "Phases").

    * `hidden`: Gemma's stacked hidden states, real tokens only (`TextHidden.compact`: the
      left padding is never read), filled while Gemma is loaded (`keep_hidden`). At real size
      ~56 MB for a 150-token prompt instead of 385 MB padded.
    * `embeds`: connector outputs (video, audio, mask) by prompt, made from `hidden` while the
      frozen connectors are loaded (`make_embeds`): what training steps and samples read,
      ~12 MB a prompt. When the connectors train, they run on `hidden` every step instead.

    Gemma, and then the frozen connectors, leave memory after their phase; a prompt asked for
    later that was not encoded then fails in the model adapter, naming it."""

    def __init__(self, model):
        self.model = model
        self.embeds: dict[str, object] = {}  # prompt -> PromptEmbeds on the host
        self.hidden: dict[str, object] = {}  # prompt -> compact TextHidden on the host

    def keep_hidden(self, prompts: Iterable[str], progress: bool = False) -> None:
        """Gemma's output of each prompt (the text phase: Gemma is loaded)."""
        todo = [p for p in dict.fromkeys(prompts) if p not in self.hidden]
        for prompt in tqdm(todo, desc="encoding captions", unit="prompt", leave=False, disable=not progress):
            self.hidden[prompt] = self.model.encode_text_hidden([prompt]).compact()

    def make_embeds(self, prompts: Iterable[str]) -> None:
        """The frozen connectors' output of each prompt, from its kept Gemma output (the
        connectors phase)."""
        for prompt in dict.fromkeys(prompts):
            self.embeds_for(prompt)

    def embeds_for(self, prompt: str) -> object:
        """Connector outputs of `prompt` through the frozen connectors: made once (from the
        kept Gemma output, or by the model when it still has Gemma), kept on the host."""
        if prompt not in self.embeds:
            with torch.no_grad():
                if prompt in self.hidden:
                    self.embeds[prompt] = self.model.run_connectors(self.hidden_for(prompt)).to("cpu")
                else:
                    self.embeds[prompt] = self.model.encode_prompts([prompt]).to("cpu")
        return self.embeds[prompt]

    def hidden_for(self, prompt: str) -> object:
        """Gemma's output for `prompt`, padded as the connectors read it, on the compute device:
        kept, or computed now."""
        kept = self.hidden.get(prompt)
        if kept is None:
            return self.model.encode_text_hidden([prompt])
        return kept.expand(self.model.text_max_length, self.model.settings.device)

    def for_sampling(self, prompt: str) -> object:
        """What a sample's pipeline reads for `prompt`: the frozen connectors' output when it
        was made (no text side runs then), else Gemma's output (the trained connectors run)."""
        if prompt in self.embeds and not self.model.settings.train_text_encoder:
            return self.embeds[prompt]
        return self.hidden_for(prompt)


@dataclass
class BatchSettings:
    """The prompt keys of the train section and the trigger word; defaults are the config's."""

    train_text_encoder: bool = config_field("train.train_text_encoder")
    diff_output_preservation: bool = config_field("train.diff_output_preservation")
    diff_output_preservation_class: str = config_field("train.diff_output_preservation_class")
    trigger_word: str | None = config_field("trigger_word")


def run_prompts(captions: Iterable[str], settings: BatchSettings, caption_dropout: bool) -> set[str]:
    """Every prompt a training step can ask for: the captions, the empty prompt when caption
    dropout can draw it, and the class-word captions of differential output preservation."""
    prompts = set(captions) | ({""} if caption_dropout else set())
    if settings.diff_output_preservation:
        prompts |= {dop_caption(c, settings) for c in prompts}
    return prompts


def dop_caption(caption: str, settings: BatchSettings) -> str:
    """The caption for differential output preservation: trigger word -> class word."""
    return caption.replace(settings.trigger_word, settings.diff_output_preservation_class)


class BatchBuilder:
    """Builds each step's batch. Needs the model adapter (prompts), the network (switched
    off for DOP base prompts when the connectors train), the data-parallel context (caption
    dropout draws for the global batch) and the run's generator (the draw order is part of
    resume and of N ranks matching one process)."""

    def __init__(self, model, network, dist, generator: torch.Generator, settings: BatchSettings,
                 device: torch.device, silence: SilenceLatents, text: TextCache | None = None):
        self.model = model
        self.network = network
        self.dist = dist
        self.generator = generator
        self.settings = settings
        self.device = device
        self.silence_latents = silence
        self.text = text if text is not None else TextCache(model)  # the run's, filled before training

    @property
    def prompt_cache(self) -> dict[str, object]:
        """caption -> connector outputs (PromptEmbeds) while the text side is frozen."""
        return self.text.embeds

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
        global_items = global_items if global_items is not None else items
        draws = [1.0] * len(items)
        if any(item.caption_dropout_rate > 0 for item in global_items):
            draws = self.dist.global_rows(lambda n: torch.rand(n, generator=self.generator), len(items)).tolist()
        embeds = []
        for item, draw in zip(items, draws, strict=True):
            drop = item.caption_dropout_rate > 0 and draw < item.caption_dropout_rate
            embeds.append(self.encode_caption("" if drop else item.caption))
        return type(embeds[0]).cat(embeds)  # the model's own prompt type joins its rows

    def encode_caption(self, caption: str) -> object:
        """Gemma and (unless the text side trains) the connectors are frozen, so each
        distinct caption is encoded once and reused; training connectors run on every call."""
        if self.settings.train_text_encoder:
            return self.model.run_connectors(self.text.hidden_for(caption))
        return self.text.embeds_for(caption)

    def dop_caption(self, caption: str) -> str:
        return dop_caption(caption, self.settings)

    def dop_prompts(self, items) -> tuple[object, object]:
        """(prompt for the network's prediction, prompt for the base target) of the class-word
        captions; they differ only when the connectors are trained (network off for the target)."""
        captions = [self.dop_caption(item.caption) for item in items]
        embeds = [self.encode_caption(c) for c in captions]
        prompt = type(embeds[0]).cat(embeds)
        if not self.settings.train_text_encoder:
            return prompt, prompt
        self.network.set_enabled(False)
        try:
            with torch.no_grad():
                base = type(prompt).cat([self.model.run_connectors(self.text.hidden_for(c)) for c in captions])
        finally:
            self.network.set_enabled(True)
        return prompt, base
