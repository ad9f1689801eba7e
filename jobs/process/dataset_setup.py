"""Encoding the datasets for a training process (split out of BaseSDTrainProcess).

Every dataset item is encoded once into video/audio latents (or loaded from the latent cache
beside the media). Under several processes the ranks share the encoding: each fills the
disk cache for its share of the files, all wait, then every rank loads every item from it.
"""

from __future__ import annotations

from jobs.process.settings_build import dataset_spec
from toolkit.dataloader_mixins import CachingReport, DatasetEncoder
from toolkit.dataset.captions import long_caption_lines
from toolkit.dataset.frames import spread_audio_warning
from toolkit.errors import UserInputError
from toolkit.train.strict_audio import check_after_caching


class _Silent:
    """The log of the cache-filling pass under several processes: the loading pass that
    follows reports every problem again (cache writes included), on every rank."""

    def info(self, message: str) -> None:
        return None

    warning = info


class DatasetSetupMixin:
    """Needs: config, model, out, dist (see TrainProcess)."""

    def _encode_datasets(self, seed: int) -> list:
        """Encode every dataset item (or load it from the latent cache).

        Several processes: the disk cache is on for every dataset; first each rank encodes
        and caches its share of the files (work item i goes to rank i % world), all wait at a
        barrier, then every rank loads every item from the cache (the pass that reports).
        Cache files are written atomically, so no rank ever reads a half-written one.
        The encoder's silent audio latents (one per item length) are kept in
        `self.silence_latents` for the batch builder."""
        self.out.update_status(state="caching")
        self._enter_phase("clips")  # the VAEs alone on the device (phases.py)
        specs = list(self._dataset_specs())
        if self.dist.enabled:
            if not all(spec.cache_to_disk for _, spec in specs):
                self.out.info("several processes: latents are cached to disk for every dataset "
                              "(cache_latents_to_disk forced on) so each item is encoded once, by one rank")
            quiet = DatasetEncoder(self.model, model_id=self.model.cache_identity, seed=seed, log=_Silent(), progress=False)
            mine = CachingReport()  # its warnings come again from the loading pass below, on every rank
            for _, spec in specs:
                spec.cache_to_disk = True
                quiet.encode(spec, mine, owned=lambda i: i % self.dist.world_size == self.dist.rank)
            shares = self.dist.gather((mine.items, mine.cache_hits))  # also the barrier: the cache is complete
            self.out.info(f"latent cache filled by {self.dist.world_size} processes: "
                          f"{' + '.join(str(n) for n, _ in shares)} items (rank 0 first; "
                          f"{sum(h for _, h in shares)} of them were cached already), now loaded by every rank")
        encoder = DatasetEncoder(self.model, model_id=self.model.cache_identity, seed=seed, log=self.out,
                                 progress=self.dist.is_main)
        report = CachingReport()
        items = []
        for ds, spec in specs:
            encoded = encoder.encode(spec, report)
            if ds.do_i2v:
                self._mark_i2v(ds.folder_path, encoded, ds.do_i2v)
            if ds.direction != "joint":
                self._mark_direction(ds.folder_path, encoded, ds.direction)
            items += encoded
        self.validation_items = self._encode_validation(encoder, seed)
        self.silence_latents = encoder.silence
        self._report_long_captions(items, report)
        problems = self.out.folder / "dataset_problems.txt"
        if self.dist.is_main:
            report.write_problems(problems)
        self.out.info(report.summary(problems))
        if any(ds.do_audio for ds in self.config.datasets):
            level, line = report.voice_line()
            getattr(self.out, level)(line)
        if not items:
            raise UserInputError("no dataset item could be loaded: see the warnings above and " + str(problems))
        check_after_caching(self.config.train, items, self.out, problems)  # strict audio mode decides now
        return items

    def _encode_validation(self, encoder: DatasetEncoder, seed: int) -> list:
        """validation_datasets: encoded like training data (same cache, same rules) and kept
        apart; never trained on (toolkit/train/validation.py scores them)."""
        if not self.config.validation_datasets:
            return []
        report = CachingReport()
        items = []
        for _ds, spec in self._dataset_specs(self.config.validation_datasets):
            spec.num_repeats = 1  # each held-out window counts once
            items += encoder.encode(spec, report)
        if self.dist.is_main:
            report.write_problems(self.out.folder / "validation_problems.txt")
        self.out.info(f"validation: {len(items)} held-out items ({sum(i.has_audio for i in items)} with voice, "
                      f"{sum(not i.audio_only for i in items)} with video) from {len(self.config.validation_datasets)} "
                      "validation dataset(s)")
        if not items:
            raise UserInputError("no validation item could be loaded from validation_datasets: see the warnings "
                                 "above and " + str(self.out.folder / "validation_problems.txt"))
        return items

    def _report_long_captions(self, items: list, report) -> None:
        """Captions the text encoder cuts short, counted with the model's own tokenizer: one
        warning naming them (and the problems file lists each)."""
        captions: dict[str, list[str]] = {}
        for item in items:
            files = captions.setdefault(item.caption, [])
            if item.path not in files:
                files.append(item.path)
        limit = self.model.text_max_length
        report.long_captions = long_caption_lines(captions, self.model.prompt_tokens, limit, exact=True)
        if report.long_captions:
            named = "; ".join(f"{path}: {what.split(';')[0]}" for path, what in report.long_captions[:5])
            more = f" and {len(report.long_captions) - 5} more" if len(report.long_captions) > 5 else ""
            self.out.warning(f"{len(report.long_captions)} file(s) have captions longer than the text encoder reads "
                             f"({limit} tokens; the rest of each is ignored, so shorten them): {named}{more}")

    def _dataset_specs(self, datasets=None, quiet: bool = False):
        """(dataset config, DatasetSpec) per dataset and resolution (the training datasets by
        default; `quiet`: without the warnings, said when the clips are encoded)."""
        for ds in self.config.datasets if datasets is None else datasets:
            for resolution in ds.resolution:
                spec = dataset_spec(ds, resolution, self.config.trigger_word,
                                    encode_audio_files=resolution == ds.resolution[0])
                if ds.do_audio and spec.spread and not quiet:
                    self.out.warning(f"{ds.folder_path}: "
                                     + spread_audio_warning(ds.num_frames, ds.audio_preserve_pitch))
                yield ds, spec

    def _mark_i2v(self, folder: str, items: list, probability: float) -> None:
        """datasets[].do_i2v: video items train image-to-video with this probability per step
        (1: always). The causal video VAE encodes pixel frame 0 alone into latent frame 0, so
        the cached video latent already holds the first-frame (image) latent the
        image-to-video pipeline conditions on."""
        if not self.model.video_encoder_is_causal:
            raise UserInputError(f"{folder}: do_i2v needs a causal video VAE encoder (latent frame 0 = the "
                                 "first frame alone); this model's VAE is not causal")
        videos = [item for item in items if item.video_latent.shape[1] > 1]
        for item in videos:
            item.i2v = float(probability)
        stills = {id(item) for item in items} - {id(item) for item in videos}
        if stills:
            self.out.warning(f"{folder}: do_i2v applies to video clips only; {len(stills)} "
                             "single-frame items (stills, audio files) train without it")

    def _mark_direction(self, folder: str, items: list, direction: str) -> None:
        """datasets[].direction: one modality is the clean condition of the other. Only a clip
        with its own voice has both sides; the others train joint (said once)."""
        paired = [item for item in items if item.has_audio and not item.audio_only]
        for item in paired:
            item.direction = direction
        if len(paired) < len(items):
            self.out.warning(f"{folder}: direction {direction} needs clips with their voice; {len(items) - len(paired)} "
                             "of its items (stills, clips without voice, audio files) train joint")
