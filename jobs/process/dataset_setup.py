"""Encoding the datasets for a training process (the run's `Datasets` part).

Every dataset item is encoded once into video/audio latents (or loaded from the latent cache
beside the media). Under several processes the ranks share the encoding: each fills the
disk cache for its share of the files, all wait, then every rank loads every item from it.
"""

from __future__ import annotations

from jobs.process.run_state import RunState
from jobs.process.settings_build import dataset_spec, strict_audio_settings
from toolkit.dataloader_mixins import CachingReport, DatasetEncoder
from toolkit.dataset.captions import long_caption_lines
from toolkit.dataset.frames import spread_audio_warning
from toolkit.errors import RunFailed, UserInputError
from toolkit.train.strict_audio import after_caching


class _Silent:
    """The log of the cache-filling pass under several processes: the loading pass that
    follows reports every problem again (cache writes included), on every rank."""

    def info(self, message: str) -> None:
        return None

    warning = info


def dataset_specs(config, out, datasets=None, quiet: bool = False):
    """(dataset config, DatasetSpec) per dataset and resolution (the training datasets by
    default; `quiet`: without the warnings, said when the clips are encoded)."""
    for ds in config.datasets if datasets is None else datasets:
        for resolution in ds.resolution:
            spec = dataset_spec(ds, resolution, config.trigger_word, encode_audio_files=resolution == ds.resolution[0])
            if ds.do_audio and spec.spread and not quiet:
                out.warning(f"{ds.folder_path}: " + spread_audio_warning(ds.num_frames, ds.audio_preserve_pitch))
            yield ds, spec


class Datasets:
    """Encodes the training and validation items into the run state. `enter_phase`: the run's
    phases (phase_setup.py): the clips phase holds the VAEs alone."""

    def __init__(self, state: RunState, enter_phase):
        self.state = state
        self.enter_phase = enter_phase

    def encode(self, seed: int) -> None:
        """Encode every dataset item (or load it from the latent cache) into `state.items`.

        Several processes: the disk cache is on for every dataset; first each rank encodes
        and caches its share of the files (work item i goes to rank i % world), all wait at a
        barrier, then every rank loads every item from the cache (the pass that reports).
        Cache files are written atomically, so no rank ever reads a half-written one.
        The encoder's silent audio latents (one per item length) are kept in
        `state.silence_latents` for the batch builder, the validation items in
        `state.validation_items`."""
        run = self.state
        run.out.update_status(state="caching")
        self.enter_phase("clips")  # the VAEs alone on the device (phases.py)
        specs = list(dataset_specs(run.config, run.out))
        if run.dist.enabled:
            if not all(spec.cache_to_disk for _, spec in specs):
                run.out.info("several processes: latents are cached to disk for every dataset "
                             "(cache_latents_to_disk forced on) so each item is encoded once, by one rank")
            quiet = DatasetEncoder(run.model, model_id=run.model.cache_identity, seed=seed, log=_Silent(), progress=False)
            mine = CachingReport()  # its warnings come again from the loading pass below, on every rank
            for _, spec in specs:
                spec.cache_to_disk = True
                quiet.encode(spec, mine, owned=lambda i: i % run.dist.world_size == run.dist.rank)
            shares = run.dist.gather((mine.items, mine.cache_hits))  # also the barrier: the cache is complete
            run.out.info(f"latent cache filled by {run.dist.world_size} processes: "
                         f"{' + '.join(str(n) for n, _ in shares)} items (rank 0 first; "
                         f"{sum(h for _, h in shares)} of them were cached already), now loaded by every rank")
        encoder = DatasetEncoder(run.model, model_id=run.model.cache_identity, seed=seed, log=run.out,
                                 progress=run.dist.is_main)
        report = CachingReport()
        items = []
        for ds, spec in specs:
            encoded = encoder.encode(spec, report)
            if ds.do_i2v:
                self._mark_i2v(ds.folder_path, encoded, ds.do_i2v)
            if ds.direction != "joint":
                mark_direction(ds.folder_path, encoded, ds.direction, run.out)
            items += encoded
        run.validation_items = self._encode_validation(encoder)
        run.silence_latents = encoder.silence
        self._report_long_captions(items, report)
        problems = run.out.folder / "dataset_problems.txt"
        if run.dist.is_main:
            report.write_problems(problems)
        run.out.info(report.summary(problems))
        if any(ds.do_audio for ds in run.config.datasets):
            level, line = report.voice_line()
            getattr(run.out, level)(line)
        if not items:
            raise UserInputError("no dataset item could be loaded: see the warnings above and " + str(problems))
        verdict = after_caching(strict_audio_settings(run.config.train), items, problems)  # strict audio decides now
        if verdict.stops:
            run.out.log_failure(verdict.message)
            raise RunFailed(verdict.message)
        if verdict.message:
            run.out.info(verdict.message)
        run.items = items

    def _encode_validation(self, encoder: DatasetEncoder) -> list:
        """validation_datasets: encoded like training data (same cache, same rules) and kept
        apart; never trained on (toolkit/train/validation.py scores them)."""
        run = self.state
        datasets = run.config.validation_datasets
        if not datasets:
            return []
        report = CachingReport()
        items = []
        for _ds, spec in dataset_specs(run.config, run.out, datasets):
            spec.num_repeats = 1  # each held-out window counts once
            items += encoder.encode(spec, report)
        problems = run.out.folder / "validation_problems.txt"
        if run.dist.is_main:
            report.write_problems(problems)
        run.out.info(f"validation: {len(items)} held-out items ({sum(i.has_audio for i in items)} with voice, "
                     f"{sum(not i.audio_only for i in items)} with video) from {len(datasets)} "
                     "validation dataset(s)")
        if not items:
            raise UserInputError("no validation item could be loaded from validation_datasets: see the warnings "
                                 "above and " + str(problems))
        return items

    def _report_long_captions(self, items: list, report) -> None:
        """Captions the text encoder cuts short, counted with the model's own tokenizer: one
        warning naming them (and the problems file lists each)."""
        captions: dict[str, list[str]] = {}
        for item in items:
            files = captions.setdefault(item.caption, [])
            if item.path not in files:
                files.append(item.path)
        limit = self.state.model.text_max_length
        report.long_captions = long_caption_lines(captions, self.state.model.prompt_tokens, limit, exact=True)
        if report.long_captions:
            named = "; ".join(f"{path}: {what.split(';')[0]}" for path, what in report.long_captions[:5])
            more = f" and {len(report.long_captions) - 5} more" if len(report.long_captions) > 5 else ""
            self.state.out.warning(f"{len(report.long_captions)} file(s) have captions longer than the text "
                                   f"encoder reads ({limit} tokens; the rest of each is ignored, so shorten "
                                   f"them): {named}{more}")

    def _mark_i2v(self, folder: str, items: list, probability: float) -> None:
        """datasets[].do_i2v: video items train image-to-video with this probability per step
        (1: always). The causal video VAE encodes pixel frame 0 alone into latent frame 0, so
        the cached video latent already holds the first-frame (image) latent the
        image-to-video pipeline conditions on."""
        if not self.state.model.video_encoder_is_causal:
            raise UserInputError(f"{folder}: do_i2v needs a causal video VAE encoder (latent frame 0 = the "
                                 "first frame alone); this model's VAE is not causal")
        videos = [item for item in items if item.video_latent.shape[1] > 1]
        for item in videos:
            item.i2v = float(probability)
        stills = {id(item) for item in items} - {id(item) for item in videos}
        if stills:
            self.state.out.warning(f"{folder}: do_i2v applies to video clips only; {len(stills)} "
                                   "single-frame items (stills, audio files) train without it")


def mark_direction(folder: str, items: list, direction: str, out) -> None:
    """datasets[].direction: one modality is the clean condition of the other. Only a clip
    with its own voice has both sides; the others train joint (said once)."""
    paired = [item for item in items if item.has_audio and not item.audio_only]
    for item in paired:
        item.direction = direction
    if len(paired) < len(items):
        out.warning(f"{folder}: direction {direction} needs clips with their voice; {len(items) - len(paired)} "
                    "of its items (stills, clips without voice, audio files) train joint")
