"""Checkpoints and resume of a training process (split out of BaseSDTrainProcess).

A checkpoint is the LoRA file plus `<name>_<step>.state.pt` (network in full precision,
optimizer, scheduler, audio balancer, data order, generator and RNG states, counters).

Under several processes every rank takes part in building the state (with a sharded base
the adapters and optimizer moments are gathered whole, a collective), only the main process
writes, and every rank waits for the files before going on, so a checkpoint is whole when
any rank continues or stops. On resume every rank reads the same newest state; the network
is loaded before the transformer is wrapped or sharded, the optimizer after.
"""

from __future__ import annotations

from pathlib import Path

from safetensors import SafetensorError, safe_open

from extensions_built_in.diffusion_models.ltx2.lora_format.comfy_check import comfyui_save_notes
from toolkit.errors import UserInputError
from toolkit.memory.dtypes import DTYPES
from toolkit.processes.parallel import load_optimizer_state, optimizer_state
from toolkit.run.checkpoint import (
    DamagedCheckpoint,
    checkpoint_files,
    list_states,
    list_step_checkpoints,
    load_state,
    load_verified_state,
    move_aside,
    rng_state,
    save_state,
    set_rng_state,
    state_path_for,
    write_checksums,
)
from toolkit.run.resume_diff import apply_schedule, check_resume
from toolkit.run.sampling import sample_jobs


class CheckpointMixin:
    """Needs: config, name, out, dist, network, optimizer, scheduler, trainer, sampler,
    generator, parallel, step and the item counters (see TrainProcess)."""

    def _training_state(self) -> dict:
        return {
            "step": self.step,
            "network": {k: v.detach().cpu() for k, v in self.network.peft_state_dict().items()},
            "optimizer": optimizer_state(self.parallel, self.optimizer),
            "optimizer_layout": "sharded" if self.parallel.sharded else "plain",
            "scheduler": self.scheduler.state_dict(),
            "balancer": self.trainer.balancer.state_dict(),
            "sampler": self.sampler.state_dict(),  # with the audio quota's counters when it is on
            "validation": self._validation_state(),
            "generator": self.generator.get_state(),
            "rng": rng_state(),
            "world_size": self.dist.world_size,
            "model_version": self.network.settings.model_version,
            "num_items": len(self.items),
            "counters": {"items_seen": self.items_seen, "items_supervised": self.items_supervised,
                         "items_speech": self.items_speech, "nonfinite_total": self.nonfinite_total},
        }

    def _load_resume_state(self) -> dict | None:
        """The newest state of this run that loads (every rank reads the same file), or None.
        The main process first moves damaged checkpoints aside (toolkit/run/checkpoint.py)."""
        verified = self._newest_loadable_state() if self.dist.is_main else None
        self.dist.barrier()
        states = list_states(self.out.folder, self.name)
        found = self.dist.gather(states[-1][0] if states else None)
        if len(set(found)) > 1:
            raise UserInputError(
                f"the processes see different checkpoints in {self.out.folder} (newest step per rank: {found}): "
                "on several machines training_folder must be a folder every machine shares")
        if not states:
            return None
        step, path = states[-1]
        state = verified if verified is not None else load_state(path)
        state["_path"] = path
        state["_step"] = step
        return state

    def _newest_loadable_state(self) -> dict | None:
        """Newest first: a checkpoint that fails its checksum or does not load is moved to
        `damaged/` with a warning naming it, and the next older one is tried."""
        for step, path in reversed(list_states(self.out.folder, self.name)):
            try:
                return load_verified_state(path)
            except DamagedCheckpoint as exc:
                where = move_aside(self.out.lora_path(step))
                self.out.warning(f"checkpoint of step {step} is damaged: {exc}; moved to {where} and "
                                 "resuming from the previous one")
        return None

    def _check_resume_config(self) -> bool:
        """Before anything is loaded: compare the config with the one the checkpoints were
        trained with (toolkit/run/resume_diff.py). True when the run is already complete."""
        states = list_states(self.out.folder, self.name)
        if not states:
            return False
        last_step = states[-1][0]
        complete, notes = check_resume(self.out.folder, self.config, last_step,
                                       final_saved=self._final_step() >= last_step)
        for note in notes:
            self.out.info(note)
        return complete

    def _final_step(self) -> int:
        """The step the final LoRA file was saved at (its metadata); -1 when there is none."""
        path = self.out.lora_path(None)
        if not path.exists():
            return -1
        try:
            with safe_open(str(path), framework="pt") as handle:
                return int((handle.metadata() or {}).get("ltx2_trainer.step", -1))
        except (OSError, SafetensorError, ValueError):
            return -1  # unreadable: the resume writes it again

    def _missing_resume_samples(self) -> bool:
        """A kill during sampling loses that step's samples; the resumed run renders them."""
        sample, train = self.config.sample, self.config.train
        if self.step == 0 or train.disable_sampling or not sample.samples or self.step % sample.sample_every:
            return False
        if self.step >= train.steps:  # the end of the run samples this step anyway: not twice
            return False

        count = len(sample_jobs(sample, self.config.trigger_word))
        return any(not (self.out.samples / f"{self.step:09d}_{i:02d}.mp4").exists() for i in range(count))

    def _resume_network(self, state: dict | None) -> None:
        """Before wrapping or sharding: the adapters as saved."""
        if state is None:
            return
        saved, mine = state.get("model_version"), self.network.settings.model_version
        if saved and mine and saved != mine:
            raise UserInputError(
                f"{state['_path']} is a checkpoint of LTX-{saved}, but this run trains LTX-{mine}: resume with "
                f"model.arch of LTX-{saved}, or give this run another name (or training_folder)")
        self.network.load_peft_state_dict(state["network"])

    def _maybe_resume(self, state: dict | None) -> None:
        """After the optimizer is built: everything else in the state."""
        if state is None:
            return
        layout = state.get("optimizer_layout", "plain")
        if layout != ("sharded" if self.parallel.sharded else "plain"):
            raise UserInputError(
                f"{state['_path'].name} was saved with model.fsdp {'on' if layout == 'sharded' else 'off'}: "
                "resume with the same model.fsdp setting (the optimizer state is laid out differently)")
        saved_world = int(state.get("world_size", 1))
        if saved_world != self.dist.world_size:
            self.out.warning(
                f"{state['_path'].name} was saved by {saved_world} process(es), this run has "
                f"{self.dist.world_size}: the global batch changes, so the data order continues from the "
                "saved position but not batch for batch")
        fresh_lrs = list(self.scheduler.base_lrs)
        load_optimizer_state(self.parallel, self.optimizer, state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        # lr and schedule come from the config in force, from the resumed step on; unchanged
        # settings give the saved lr exactly (the same product LambdaLR computes).
        apply_schedule(self.scheduler, self.optimizer, fresh_lrs)
        self.trainer.balancer.load_state_dict(state["balancer"])
        self.sampler.load_state_dict(state["sampler"])
        saved_items = state.get("num_items")
        if saved_items is not None and saved_items != len(self.items):
            self.out.info(f"note: the datasets changed since {state['_path'].name}: {saved_items} items then, "
                          f"{len(self.items)} now; the data order continues from the saved epoch and position")
        self.generator.set_state(state["generator"])
        set_rng_state(state["rng"])
        counters = state.get("counters", {})
        self.items_seen = counters.get("items_seen", 0)
        self.items_supervised = counters.get("items_supervised", 0)
        # A state saved before speech was counted apart from sound: what it counted as voice then.
        self.items_speech = counters.get("items_speech", self.items_supervised)
        self.nonfinite_total = counters.get("nonfinite_total", 0)
        self.step = state["step"]
        self._load_validation_state(state.get("validation"))  # after the step: its history is cut there
        self.last_checkpoint = str(self.out.lora_path(state["_step"]))
        self.out.info(f"resuming from step {self.step} ({state['_path'].name})")
        dropped = self.out.drop_metrics_after(self.step)
        if dropped:
            self.out.info(f"metrics.jsonl: dropped {dropped} record(s) after step {self.step} (they are trained again)")

    def save_checkpoint(self, final: bool = False) -> Path:
        """Every rank calls this at the same step; the main process writes, all wait for it.
        Its time is kept out of the step pace (toolkit/run/step_clock.py)."""
        with self.clock.pause("saving"):
            return self._save_checkpoint(final)

    def _save_checkpoint(self, final: bool) -> Path:
        save = self.config.save
        lora_path = self.out.lora_path(None if final else self.step)
        if self.dist.is_main:
            self.network.save(lora_path, fmt=save.format, dtype=DTYPES[save.dtype],
                              extra_metadata={"ltx2_trainer.step": self.step, "ltx2_trainer.name": self.name})
            if not getattr(self, "_comfyui_noted", False):  # once per run: every file has the same keys

                for level, line in comfyui_save_notes(self.network, save.format):
                    (self.out.warning if level == "warning" else self.out.info)(line)
                self._comfyui_noted = True
        elif self.parallel.sharded:
            self.network.export_state_dict(save.format, DTYPES[save.dtype])  # the gather is collective
        if not final:
            # Every file is written atomically (toolkit/atomic.py): a kill or a failed write
            # mid-save leaves the previous checkpoint and state untouched. The checksums
            # come last and are verified on resume.
            state = self._training_state() if (self.dist.is_main or self.parallel.sharded) else None
            if self.dist.is_main:
                save_state(state_path_for(lora_path), state)
                write_checksums(lora_path)
                keep = save.max_step_saves_to_keep
                steps = list_step_checkpoints(self.out.folder, self.name)
                for old_step in steps[: max(0, len(steps) - keep)] if keep > 0 else []:
                    for old in checkpoint_files(self.out.lora_path(old_step)):
                        old.unlink(missing_ok=True)
        self.dist.barrier()
        self.last_checkpoint = str(lora_path)
        self.out.info(f"saved {lora_path.name}")
        return lora_path
