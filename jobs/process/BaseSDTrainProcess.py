"""The run's lifecycle: set up, cache, train, sample, save, resume, stop cleanly.

`run_process` is what run.py calls for each `config.process[]` entry. The process owns the
loop and the files; the model adapter (ltx2.py) owns LTX-2; the batch builder
(toolkit/train/batch_builder.py) owns prompts and batches; SDTrainer owns the loss. Each is handed
the settings it needs (jobs/process/settings_build.py), so no module reaches into another's
config. A step reads: sample -> build batch -> compute loss -> step.

The parts around the loop (checkpoints, validation, samples, the step log, launcher requests,
the caption and clip phases, owed samples) are plain objects built here, each given the run
state (jobs/process/run_state.py: what they share, declared) and the parts it calls; the loop
calls their hooks (run_state.RunPart) on `self.parts`, in order.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import fields
from pathlib import Path

import torch

from extensions_built_in.diffusion_models.ltx2.ltx2 import LTX2Model
from extensions_built_in.sd_trainer.SDTrainer import SDTrainer, warn_min_snr
from jobs.process.checkpointing import Checkpoints
from jobs.process.dataset_setup import Datasets
from jobs.process.due_samples import DueSamples
from jobs.process.phase_setup import Phases
from jobs.process.progress import Requests, StepLog
from jobs.process.run_state import RunPart, RunState
from jobs.process.sampling_steps import Samples
from jobs.process.settings_build import (
    batch_settings,
    loss_settings,
    ltx2_settings,
    network_settings,
    strict_audio_settings,
)
from jobs.process.validation_steps import Validation
from toolkit.atomic import remove_temp_files
from toolkit.configuration.notes import startup_notes
from toolkit.dataloader_mixins import CACHE_DIR_NAME
from toolkit.dataset.discovery import discover_dataset
from toolkit.dataset.silence import SILENCE_DIR_NAME
from toolkit.errors import Interrupted, RunFailed, UserInputError, WriteFailed
from toolkit.lora.network import Network
from toolkit.memory.dtypes import DTYPES
from toolkit.memory.levers import resolve_levers
from toolkit.memory.optimizer_offload import HostOptimizerStep
from toolkit.memory.startup import describe, plan
from toolkit.processes.distributed import DistContext
from toolkit.processes.parallel import wrap_transformer
from toolkit.run.folder import open_run_folder
from toolkit.run.output import RunOutput, is_broken_console
from toolkit.run.preflight import config_problems, raise_problems
from toolkit.run.runtime_check import runtime_problems
from toolkit.run.signals import StopRequest  # looked up here at run time: tests replace it
from toolkit.run.step_clock import StepClock
from toolkit.train.audio_quota import AudioQuotaSampler
from toolkit.train.batch_builder import BatchBuilder
from toolkit.train.batching import BucketBatchSampler
from toolkit.train.optimizers import build_optimizer, build_scheduler
from toolkit.train.param_groups import group_lrs, optimizer_params
from toolkit.train.strict_audio import Action, count_expected, in_training

VOICE_KEYS = (
    "independent_audio_timestep",
    "auto_balance_audio_loss",
    "audio_balance_mode",
    "audio_loss_multiplier",
    "audio_preservation",
    "strict_audio_mode",
    "timestep_type",
)


NOTHING_LEFT = {"eta_s": 0.0, "eta_samples_s": 0.0, "eta_saves_s": 0.0}  # a finished run's ETA


def run_process(process_config, job_name: str, config_path: Path, raw_config: dict, restart: bool = False) -> None:
    """Train one process of a config (`--check` is toolkit/run/file_check.py's). Raises
    ToolkitError subclasses on failure."""
    TrainProcess(process_config, job_name, raw_config, restart=restart).run()


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError as exc:
        raise UserInputError(f"device '{name}' is not a torch device (use auto, cpu, cuda, cuda:0)") from exc
    if device.type == "cuda" and not torch.cuda.is_available():
        raise UserInputError(f"device '{name}' asked for, but this machine has no CUDA GPU (use device: auto)")
    return device


class TrainProcess:
    def __init__(self, config, job_name: str, raw_config: dict, dist: DistContext | None = None,
                 restart: bool = False):
        self.raw_config = raw_config
        # Under `accelerate launch` (WORLD_SIZE > 1) this joins the process group; only the
        # main process writes the run's files (docs/distributed.md).
        dist = dist or DistContext.from_environment(want_cuda=config.device != "cpu")
        # One run per folder, checked before anything is written into it (toolkit/run/folder.py).
        self.lock, self.folder_notes = None, []
        if dist.is_main:
            self.lock, self.folder_notes = open_run_folder(Path(config.training_folder) / job_name, job_name, restart)
        try:
            out = RunOutput(Path(config.training_folder) / job_name, job_name, write=dist.is_main, rank=dist.rank)
        except BaseException:
            if self.lock is not None:
                self.lock.release()
            raise
        # What the parts share (jobs/process/run_state.py); every field also reads as an
        # attribute of the process (below the class), for tests, benchmarks and scripts.
        self.state = RunState(config=config, name=job_name, out=out, dist=dist, clock=StepClock())
        self.nonfinite_in_row = 0
        self._resume_state: dict | None = None
        self._strict_audio = strict_audio_settings(config.train)
        # The parts, each given what it calls; `parts` get the loop's hooks in this order.
        self.phases = Phases(self.state)
        self.datasets = Datasets(self.state, self.phases.enter)
        self.validation = Validation(self.state)
        self.samples = Samples(self.state, self.phases.enter, self.validation.voice_scored)
        self.requests = Requests(self.state, self.save_checkpoint, self.samples)
        self.step_log = StepLog(self.state)  # last: its bar opens after the step-0 samples
        self.parts: list[RunPart] = [self.validation, self.samples, self.requests, self.step_log]
        self.checkpoints = Checkpoints(self.state, self.parts)
        self.due_samples = DueSamples(self.state, self.checkpoints, self.phases, self.samples, self.load_model)

    def add_part(self, part: RunPart) -> None:
        """A part beyond the run's own: its hooks are called after theirs, and its state (when
        it has a `state_key`) is saved with every checkpoint and restored on resume."""
        self.parts.append(part)

    def _hooks(self, hook: str, *args) -> None:
        """Call `hook` (a RunPart method) on every part, in order."""
        for part in self.parts:
            getattr(part, hook)(*args)

    # ------------------------------------------------------------------ setup
    def run(self) -> None:
        try:
            self._run()
        except (RunFailed, UserInputError, WriteFailed) as exc:
            self._record_end(state="error", error=str(exc))
            raise
        except KeyboardInterrupt as exc:
            saved = isinstance(exc, Interrupted) and exc.saved
            self._record_end(state="stopped", error=None if saved else str(exc))  # "interrupted (SIGINT)"
            raise
        except Exception as exc:  # noqa: BLE001 - recorded for the UI, then reported by run.py
            if is_broken_console(exc):  # the process reading our console is gone (ai-toolkit killed)
                self.out.console_lost(exc)
            self._record_end(state="error", error=f"{type(exc).__name__}: {exc}")
            raise
        finally:
            self.step_log.close()
            # Released before the log closes, so a lock that cannot be removed is said there;
            # release never raises, so the error the run stopped on stays the one reported.
            left = self.lock.release() if self.lock is not None else None
            if left:
                self.out.warning(left)
            self.out.close()

    def _record_end(self, **fields) -> None:
        """status.json on the way out, and an error in log.txt too. When status.json itself
        cannot be written (the same full or read-only disk), the original error is the one to
        report; this one is logged. The newest saved file is named: a stop or a failure after
        the last step's status (in the final save or sampling) would otherwise leave an older
        one there."""
        if self.last_checkpoint is not None:
            fields.setdefault("last_checkpoint", self.last_checkpoint)
        if fields.get("state") == "error":
            self.out.log_failure(fields["error"])
        try:
            self.out.update_status(**fields)
        except WriteFailed as exc:
            self.out.warning(f"status.json not updated: {exc}")

    def _run(self) -> None:
        self.prepare()
        if self.complete:
            return
        self._train_loop()

    def prepare(self) -> None:
        """Everything before the first step: output folder, data check, model, cache, network,
        optimizer, resume. Benchmarks and tests call it to drive steps themselves."""
        cfg = self.config
        train = cfg.train

        raise_problems(config_problems(cfg))  # before any output, model or cache work
        self._check_same_config()
        for note in self.folder_notes:
            self.out.info(note)
        # Before the config copy is replaced: what changed since the checkpoint (exit 2 for
        # a network or optimizer change, notes otherwise; toolkit/run/resume_diff.py).
        self.complete = self.checkpoints.check_resume_config()
        if self.complete:
            self.due_samples.render()  # a stop during the final sampling (jobs/process/due_samples.py)
            final = self.out.lora_path(None)
            done = {"last_checkpoint": str(final)} if final.is_file() else {}
            if self.last_sample:
                done["last_sample"] = self.last_sample
            self.out.update_status(state="done", step=train.steps, total=train.steps, **done, **NOTHING_LEFT)
            return
        self.out.save_config(self.raw_config)
        self.out.remove_stale_temp_files()
        self._remove_stale_cache_temp_files()
        self.out.update_status(state="loading", total=train.steps)
        if cfg.logging.use_tensorboard:
            self.out.enable_tensorboard()
        seed = train.seed
        torch.manual_seed(seed)
        self.generator = torch.Generator().manual_seed(seed)
        self._log_voice_settings()
        self._check_dataset_folders()
        self.samples.setup_voice_metric()  # before the model: a missing scorer package fails early
        # One phase at a time, each holding only what it uses (docs/memory.md, Phases):
        # captions, then clips, then the transformer for training.
        train_prompts, sample_prompts = self.phases.train_prompts(), self.phases.sample_prompts()
        self.load_model(len(train_prompts) + len(sample_prompts))
        self.text = self.phases.encode_text(train_prompts, sample_prompts)
        self.datasets.encode(seed)
        self.phases.enter("train")
        self._build_network()
        self._build_trainer(seed)
        self.validation.setup()
        self.checkpoints.resume(self._resume_state)
        self._resume_state = None

    def load_model(self, prompts: int) -> None:
        """The device and the LTX-2 model, opened phase by phase (nothing heavy is read here;
        with its memory report and the phases' start-up choices), as the config asks."""
        cfg, train = self.config, self.config.train

        self.device = self.dist.device(resolve_device(cfg.device))
        if self.device.type == "cuda":
            torch.cuda.set_device(self.device)
        # the memory plan resolves every "auto" memory key for this card and RAM; the per-step
        # levers take it (toolkit/memory/levers.py), each key resolved in one place
        memory_plan = self._report_expected_memory()
        planned = memory_plan.resolved.settings if memory_plan is not None and memory_plan.resolved else None
        self.levers = resolve_levers(cfg, self.device.type, planned)
        raise_problems(runtime_problems(cfg, torch.device("cpu") if self.levers.optimizer_offload else self.device))
        if self.dist.enabled:
            self.out.info(f"data parallel: {self.dist.world_size} processes ({self.dist.backend}), global batch "
                          f"{train.batch_size} x {self.dist.world_size} = {train.batch_size * self.dist.world_size}"
                          f"{', base sharded (FSDP)' if cfg.model.fsdp else ''}")
        elif cfg.model.fsdp:
            self.out.warning("model.fsdp has no effect in a single process: launch several with accelerate")
        self.dtype = DTYPES[train.dtype]
        self.model = LTX2Model.load(cfg.model.name_or_path, ltx2_settings(cfg, self.dtype, self.device, self.levers),
                                    phased=True)
        self.out.info(f"loaded LTX-2 from {self.model.source} on {self.device} ({train.dtype}; version "
                      f"{self.model.version.number}, a/v cross-attention timesteps: {self.model.cross_timestep_routing})")
        self.out.info(self.levers.describe())
        for note in self.model.memory_notes:
            self.out.info(note)
        # a sample decodes whole only within what the planned training step's own work holds
        self.phases.resolve(prompts, decode_room=memory_plan.sample_decode_room if memory_plan else None)

    def _report_expected_memory(self):
        """The run's memory plan (device and host, the auto settings it chose) and a warning
        naming what to change when a memory is short (before loading). None: no estimate."""
        try:
            memory_plan = plan(self.config, self.device)
        except (ValueError, TypeError, KeyError) as exc:  # advisory only: say so, and train anyway
            self.out.warning(f"no memory estimate for this model ({type(exc).__name__}: {exc})")
            return None
        lines, warnings = describe(memory_plan)
        for line in lines:
            self.out.info(line)
        for warning in warnings:
            self.out.warning(warning)
        return memory_plan

    def _check_same_config(self) -> None:
        """Every process must train the same config (on several machines each reads its own copy)."""
        if not self.dist.enabled:
            return

        digest = hashlib.sha256(json.dumps(self.raw_config, sort_keys=True, default=str).encode()).hexdigest()[:12]
        digests = self.dist.gather(digest)
        if len(set(digests)) > 1:
            raise UserInputError(f"the processes read different configs (digest per rank: {digests}): give every "
                                 "machine the same config file, with the same ${ENV} values")

    def _remove_stale_cache_temp_files(self) -> None:
        """Unfinished latent-cache writes of a killed run. Another run may be caching into the
        same dataset right now, so only temp files older than 10 minutes go."""
        if not self.dist.is_main:
            return

        folders = [Path(ds.folder_path) / CACHE_DIR_NAME for ds in self.config.datasets]
        removed = sum((remove_temp_files(folder, min_age_s=600) + remove_temp_files(folder / SILENCE_DIR_NAME, min_age_s=600)
                       for folder in folders), [])
        if removed:
            self.out.info(f"removed {len(removed)} unfinished latent cache temp file(s) of an interrupted run")

    def _check_dataset_folders(self) -> None:
        """Fail on a missing or empty dataset folder before any model is loaded."""
        for ds in self.config.datasets:
            discover_dataset(ds.folder_path, caption_ext=ds.caption_ext, default_caption=ds.default_caption)
        for index, item in enumerate(self.config.sample.samples):
            if item.ctrl_img and not Path(item.ctrl_img).expanduser().is_file():
                raise UserInputError(f"sample.samples[{index}].ctrl_img '{item.ctrl_img}' is not a file: "
                                     "give the path of the first-frame image for image-to-video sampling")

    def _log_voice_settings(self) -> None:
        train = self.config.train
        voice = ", ".join(f"{k}={getattr(train, k)}" for k in VOICE_KEYS)
        self.out.info(f"voice settings in force: {voice}")

        for line in startup_notes(self.config):
            self.out.info(line)

        message = warn_min_snr(train.min_snr_gamma)
        if message:
            self.out.warning(message)

    def _build_network(self) -> None:
        net = self.config.network
        settings = network_settings(net, self.model.version.number, self.levers)
        connectors = self.model.connectors if self.config.train.train_text_encoder else None
        self.network = Network(self.model.transformer, settings, connectors=connectors, device=self.device,
                               key_namer=self.model.lora_key_namer)
        if net.pretrained_lora_path:
            self.network.load_file(net.pretrained_lora_path)
            self.out.info(f"network starts from {net.pretrained_lora_path}")
        # Resume loads the adapters before they are wrapped (DDP) or sharded (FSDP).
        self._resume_state = self.checkpoints.load_resume_state()
        self.checkpoints.resume_network(self._resume_state)
        # Read before wrapping or sharding: with nothing in the adapters yet, the step-0 samples
        # are the base samples and are rendered once (jobs/process/base_sampling.py).
        self.starts_as_base = (not net.pretrained_lora_path and self._resume_state is None
                               and self.network.adds_nothing())

        self.parallel = wrap_transformer(self.model, self.network, self.dist, self.config.model.fsdp, self.device)
        audio_note = "with" if settings.include_audio else "without"
        self.out.info(
            f"network: {net.type} rank {net.linear} alpha {net.linear_alpha} on {len(self.network.targets)} layers "
            f"({audio_note} audio modules), {self.network.num_parameters():,} trainable parameters"
        )
        self.model.transformer.train()

    def _build_trainer(self, seed: int) -> None:
        train = self.config.train
        if train.audio_balance_mode != "fixed" and train.audio_loss_multiplier != 1.0:
            why = ("while auto_balance_audio_loss is on" if train.audio_balance_mode == "auto"
                   else "with audio_balance_mode off")
            self.out.warning(f"train.audio_loss_multiplier is ignored {why} (it applies with audio_balance_mode: fixed)")
        self.trainer = SDTrainer(
            self.model,
            self.network,
            loss_settings(train, self.config.datasets),
            generator=self.generator,
            dist=self.dist,
        )
        # lever (d): the optimizer steps host copies of the adapters (toolkit/memory/optimizer_offload.py)
        # one process: each gradient goes to the host as backward finishes it; data-parallel
        # runs average them on the device first, then gather them
        self.host_step = None
        if self.levers.optimizer_offload:
            self.host_step = HostOptimizerStep(self.network.parameters(), self.device,
                                               stream_gradients=self.parallel.mode == "single")
        params = optimizer_params(self.network, train.lr, train.audio_lr)
        if self.host_step is not None:
            params = self.host_step.for_optimizer(params)
        self.optimizer = build_optimizer(train.optimizer, params, train.lr, dict(train.optimizer_params))
        if self.host_step is not None:
            self.out.info(f"optimizer state and step in host memory ({self.host_step.host_bytes / 2**20:.1f} MiB of "
                          "float32 master weights, plus the optimizer's state)")
        if train.audio_lr is not None:
            counts = [sum(p.numel() for p in group["params"]) for group in self.optimizer.param_groups]
            self.out.info(f"optimizer groups: video and the rest {counts[0]:,} parameters at lr {train.lr:g}, "
                          f"audio side {counts[1]:,} at audio_lr {train.audio_lr:g}")
        # What the optimizer steps is what gets clipped; walking every module of the
        # transformer for this list each step cost ~5 ms a step on the tiny model.
        self.trained_parameters = [p for group in self.optimizer.param_groups for p in group["params"]]
        self.scheduler = build_scheduler(train.lr_scheduler, self.optimizer, train.steps, train.lr_warmup_steps,
                                         dict(train.lr_scheduler_params))
        # Every rank plans the same global batches (batch_size x world) and trains its slice;
        # the trainer draws sigmas and noise for the global batch and keeps its rows.
        world = self.dist.world_size
        self.sampler = BucketBatchSampler(self.items, train.batch_size * world, seed, fill_last=world > 1)
        if train.audio_batch_min_ratio > 0:
            if any(item.has_audio for item in self.items):
                self.sampler = AudioQuotaSampler(self.sampler, train.audio_batch_min_ratio, seed)
            else:
                self.out.warning("train.audio_batch_min_ratio has nothing to draw from: no training item has voice")
        self.batches = BatchBuilder(self.model, self.network, self.dist, self.generator,
                                    batch_settings(self.config), self.device, self.silence_latents, self.text)

    # ------------------------------------------------------------------ loop
    def _train_loop(self) -> None:
        total = self.config.train.steps
        self._hooks("on_train_start")  # the step-0 held-out loss and samples (or a resumed step's lost ones), the bar
        with StopRequest() as stop:
            while self.step < total:
                self.train_iteration()
                if self.dist.any(stop.requested) and self.step < total:  # a stop on any rank stops all
                    stop.signal_name = stop.signal_name or "a stop on another rank"
                    self.out.info(f"{stop.signal_name} received: saving at step {self.step} and stopping")
                    self.save_checkpoint()
                    self.out.update_status(state="stopped", step=self.step, last_checkpoint=self.last_checkpoint)
                    self.step_log.close()
                    self.out.info(f"stopped at step {self.step}/{total}; run the same config again to resume "
                                  f"from {Path(self.last_checkpoint).name}")
                    # Not a normal return: the program stops (130/143), no next config starts.
                    raise Interrupted(stop.signal_name if stop.signal_name.startswith("SIG") else "SIGINT",
                                      saved=True)
        self.step_log.close()
        self._hooks("on_train_end")  # the last step's held-out loss, before its checkpoint holds the tracker
        self.save_checkpoint()  # the last step's checkpoint + state, then the final file (its samples follow)
        self.save_checkpoint(final=True)
        self._hooks("on_run_end")  # the best steps' summary
        self.out.update_status(state="done", step=self.step, last_checkpoint=self.last_checkpoint, **NOTHING_LEFT,
                               last_sample=self.last_sample)

    def train_iteration(self) -> None:
        """One step and what follows it: the parts' hooks, the periodic checkpoint, the status
        (the loop calls it; benchmarks time it)."""
        train = self.config.train
        metrics = self.train_step()
        self.step += 1
        self.clock.step_done()
        s_per_it = self.clock.s_per_it
        self._hooks("on_post_optimizer_step", metrics)  # the step's log line and row, the drift warning's loss
        if self.step % self.config.save.save_every == 0 and self.step < train.steps:
            self.save_checkpoint()
        self._hooks("on_step_end")  # validation and samples when due, Save now / Sample now
        self.out.update_status(state="training", step=self.step, total=train.steps, s_per_it=s_per_it,
                               **self.step_log.eta_fields(),
                               last_checkpoint=self.last_checkpoint, last_sample=self.last_sample, error=None,
                               skipped_steps=self.nonfinite_total)

    def save_checkpoint(self, final: bool = False) -> Path:
        """A checkpoint, or the final LoRA file (jobs/process/checkpointing.py), on every rank
        at the same step; then the parts' on_post_save (the final file's samples)."""
        path = self.checkpoints.save(final)
        self._hooks("on_post_save", path, final)
        return path

    def train_step(self) -> dict:
        """One optimizer step (the loop calls it; tests and benchmarks drive steps with it):
        `gradient_accumulation` micro-batches, each this rank's slice of
        a global batch. Gradients are averaged across ranks on the last micro-step only; a
        non-finite loss on any rank makes every rank skip the step."""
        train = self.config.train
        self._zero_grad()
        accumulated: dict = {}
        finite = True
        seen = supervised = speech = 0
        for micro in range(train.gradient_accumulation):
            global_items = self.sampler.next_batch()
            items = self.dist.shard(global_items, train.batch_size)
            batch = self.batches.build(items, global_items)
            with self.parallel.sync_context(micro == train.gradient_accumulation - 1):
                losses = self.trainer.compute(batch)
                if self.dist.any(not bool(torch.isfinite(losses.total))):
                    finite = False
                    if self.dist.enabled:  # the wrappers expect the backward they prepared for
                        (losses.total * 0.0).backward()
                    break
                (losses.total / train.gradient_accumulation).backward()
                if self.host_step is not None:
                    self.host_step.after_backward()  # streamed gradients landed (lever d)
            for key, value in losses.metrics.items():
                accumulated[key] = accumulated.get(key, 0.0) + value / train.gradient_accumulation
            seen += count_expected(items)  # images and do_audio: false clips are not missing a voice
            supervised += int(batch.audio_supervised.sum().item())
            speech += sum(item.speech for item in items)
        # strict audio counts every rank's items
        self.counts.add(*self.dist.sum_ints([seen, supervised, speech]))
        if not finite:
            return self._skip_nonfinite()
        self.nonfinite_in_row = 0
        self.parallel.finish_gradients()
        if self.host_step is not None:
            self.host_step.gather_gradients()  # before clipping: the optimizer's parameters are the host copies
        accumulated = self._mean_metrics(accumulated)
        if train.max_grad_norm > 0:
            torch.nn.utils.clip_grad_norm_(self.trained_parameters, train.max_grad_norm)
        self.optimizer.step()
        if self.host_step is not None:
            self.host_step.publish()
        accumulated.update(group_lrs(self.optimizer))  # the lr (and audio_lr) this step used
        self.scheduler.step()
        self._check_strict_audio()
        return accumulated

    def _mean_metrics(self, metrics: dict) -> dict:
        """Cross-rank means of the step's metrics (item counts are summed), same on every rank."""
        if not self.dist.enabled:
            return metrics
        gathered = self.dist.gather(metrics)
        keys = sorted({key for part in gathered for key in part})
        totals = {key: sum(float(part.get(key, 0.0)) for part in gathered) for key in keys}
        return {key: (int(total) if key.endswith("_items") else total / self.dist.world_size)
                for key, total in totals.items()}

    def _zero_grad(self) -> None:
        self.optimizer.zero_grad(set_to_none=True)
        if self.host_step is not None:
            self.host_step.zero_device_grads()

    def _skip_nonfinite(self) -> dict:
        self._zero_grad()
        self.nonfinite_in_row += 1
        self.nonfinite_total += 1
        self.out.warning(f"step {self.step + 1}: non-finite loss, step skipped ({self.nonfinite_in_row} in a row)")
        if self.nonfinite_in_row >= self.config.train.max_nonfinite_steps:
            where = self.last_checkpoint or "none saved yet"
            self._fail_together(
                f"{self.nonfinite_in_row} non-finite losses in a row at step {self.step + 1}: lower train.lr or "
                f"check the data; last good checkpoint: {where}"
            )
        return {"loss": float("nan"), "skipped": 1}

    def _fail_together(self, message: str) -> None:
        """A failure every rank reaches at the same step (the counters are global): the main
        process records it before any rank exits, since the launcher ends the others when the
        first one does."""
        self.out.update_status(state="error", error=message)
        self.dist.barrier()
        raise RunFailed(message)

    def _check_strict_audio(self) -> None:
        """Strict audio mode's verdict on the items trained so far (toolkit/train/strict_audio.py),
        acted on here, after the optimizer step: a stop counts the step, saves it, and fails on
        every rank together."""
        verdict = in_training(self._strict_audio, self.step + 1, self.counts)
        if verdict.action is not Action.SAVE_AND_STOP:
            return
        self.step += 1
        path = self.save_checkpoint()
        self.out.update_status(last_checkpoint=str(path))
        message = f"{verdict.message} Checkpoint saved: {path.name}"
        self.out.log_failure(message)
        self._fail_together(message)


for _field in fields(RunState):  # the run state's fields read and write as the process's attributes
    setattr(TrainProcess, _field.name, property(
        lambda self, name=_field.name: getattr(self.state, name),
        lambda self, value, name=_field.name: setattr(self.state, name, value),
        doc=f"The run state's `{_field.name}` (jobs/process/run_state.py)."))
