"""Checkpoints and resume of a training process (the run's `Checkpoints` part).

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
from jobs.process.run_state import RunPart, RunState
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
from toolkit.train.strict_audio import ItemCounts


class Checkpoints:
    """Writes and reads the run's checkpoints. `parts`: the run's parts; those with a
    `state_key` have their state saved with each checkpoint and restored on resume."""

    def __init__(self, state: RunState, parts: list[RunPart]):
        self.state = state
        self.parts = parts
        self._comfyui_noted = False  # once per run: every file has the same keys

    def _training_state(self) -> dict:
        run = self.state
        counts = run.counts
        state = {
            "step": run.step,
            "network": {k: v.detach().cpu() for k, v in run.network.peft_state_dict().items()},
            "optimizer": optimizer_state(run.parallel, run.optimizer),
            "optimizer_layout": "sharded" if run.parallel.sharded else "plain",
            "scheduler": run.scheduler.state_dict(),
            "balancer": run.trainer.balancer.state_dict(),
            "sampler": run.sampler.state_dict(),  # with the audio quota's counters when it is on
        }
        state.update({part.state_key: part.state_dict() for part in self.parts if part.state_key})
        state.update({
            "generator": run.generator.get_state(),
            "rng": rng_state(),
            "world_size": run.dist.world_size,
            "model_version": run.network.settings.model_version,
            "num_items": len(run.items),
            "counters": {"items_seen": counts.seen, "items_supervised": counts.supervised,
                         "items_speech": counts.speech, "nonfinite_total": run.nonfinite_total},
        })
        return state

    def load_resume_state(self) -> dict | None:
        """The newest state of this run that loads (every rank reads the same file), or None.
        The main process first moves damaged checkpoints aside (toolkit/run/checkpoint.py)."""
        run = self.state
        verified = self._newest_loadable_state() if run.dist.is_main else None
        run.dist.barrier()
        states = list_states(run.out.folder, run.name)
        found = run.dist.gather(states[-1][0] if states else None)
        if len(set(found)) > 1:
            raise UserInputError(
                f"the processes see different checkpoints in {run.out.folder} (newest step per rank: {found}): "
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
        out = self.state.out
        for step, path in reversed(list_states(out.folder, self.state.name)):
            try:
                return load_verified_state(path)
            except DamagedCheckpoint as exc:
                where = move_aside(out.lora_path(step))
                out.warning(f"checkpoint of step {step} is damaged: {exc}; moved to {where} and "
                            "resuming from the previous one")
        return None

    def check_resume_config(self) -> bool:
        """Before anything is loaded: compare the config with the one the checkpoints were
        trained with (toolkit/run/resume_diff.py). True when the run is already complete."""
        run = self.state
        states = list_states(run.out.folder, run.name)
        if not states:
            return False
        last_step = states[-1][0]
        complete, notes = check_resume(run.out.folder, run.config, last_step,
                                       final_saved=self.final_step() >= last_step)
        for note in notes:
            run.out.info(note)
        return complete

    def final_step(self) -> int:
        """The step the final LoRA file was saved at (its metadata); -1 when there is none."""
        path = self.state.out.lora_path(None)
        if not path.exists():
            return -1
        try:
            with safe_open(str(path), framework="pt") as handle:
                return int((handle.metadata() or {}).get("ltx2_trainer.step", -1))
        except (OSError, SafetensorError, ValueError):
            return -1  # unreadable: the resume writes it again

    def resume_network(self, state: dict | None) -> None:
        """Before wrapping or sharding: the adapters as saved."""
        if state is None:
            return
        network = self.state.network
        saved, mine = state.get("model_version"), network.settings.model_version
        if saved and mine and saved != mine:
            raise UserInputError(
                f"{state['_path']} is a checkpoint of LTX-{saved}, but this run trains LTX-{mine}: resume with "
                f"model.arch of LTX-{saved}, or give this run another name (or training_folder)")
        network.load_peft_state_dict(state["network"])

    def resume(self, state: dict | None) -> None:
        """After the optimizer is built: everything else in the state."""
        if state is None:
            return
        run = self.state
        layout = state.get("optimizer_layout", "plain")
        if layout != ("sharded" if run.parallel.sharded else "plain"):
            raise UserInputError(
                f"{state['_path'].name} was saved with model.fsdp {'on' if layout == 'sharded' else 'off'}: "
                "resume with the same model.fsdp setting (the optimizer state is laid out differently)")
        saved_world = int(state.get("world_size", 1))
        if saved_world != run.dist.world_size:
            run.out.warning(
                f"{state['_path'].name} was saved by {saved_world} process(es), this run has "
                f"{run.dist.world_size}: the global batch changes, so the data order continues from the "
                "saved position but not batch for batch")
        fresh_lrs = list(run.scheduler.base_lrs)
        load_optimizer_state(run.parallel, run.optimizer, state["optimizer"])
        run.scheduler.load_state_dict(state["scheduler"])
        # lr and schedule come from the config in force, from the resumed step on; unchanged
        # settings give the saved lr exactly (the same product LambdaLR computes).
        apply_schedule(run.scheduler, run.optimizer, fresh_lrs)
        run.trainer.balancer.load_state_dict(state["balancer"])
        run.sampler.load_state_dict(state["sampler"])
        saved_items = state.get("num_items")
        if saved_items is not None and saved_items != len(run.items):
            run.out.info(f"note: the datasets changed since {state['_path'].name}: {saved_items} items then, "
                         f"{len(run.items)} now; the data order continues from the saved epoch and position")
        run.generator.set_state(state["generator"])
        set_rng_state(state["rng"])
        counters = state.get("counters", {})
        supervised = counters.get("items_supervised", 0)
        # A state saved before speech was counted apart from sound: what it counted as voice then.
        run.counts = ItemCounts(seen=counters.get("items_seen", 0), supervised=supervised,
                                speech=counters.get("items_speech", supervised))
        run.nonfinite_total = counters.get("nonfinite_total", 0)
        run.step = state["step"]
        for part in self.parts:  # after the step: validation's history is cut there
            if part.state_key:
                part.load_state_dict(state.get(part.state_key))
        run.last_checkpoint = str(run.out.lora_path(state["_step"]))
        run.out.info(f"resuming from step {run.step} ({state['_path'].name})")
        dropped = run.out.drop_metrics_after(run.step)
        if dropped:
            run.out.info(f"metrics.jsonl: dropped {dropped} record(s) after step {run.step} (they are trained again)")

    def save(self, final: bool = False) -> Path:
        """Every rank calls this at the same step; the main process writes, all wait for it.
        Its time is kept out of the step pace (toolkit/run/step_clock.py)."""
        with self.state.clock.pause("saving"):
            return self._write(final)

    def _write(self, final: bool) -> Path:
        run = self.state
        save, network = run.config.save, run.network
        lora_path = run.out.lora_path(None if final else run.step)
        if run.dist.is_main:
            network.save(lora_path, fmt=save.format, dtype=DTYPES[save.dtype],
                         extra_metadata={"ltx2_trainer.step": run.step, "ltx2_trainer.name": run.name})
            if not self._comfyui_noted:
                for level, line in comfyui_save_notes(network, save.format):
                    (run.out.warning if level == "warning" else run.out.info)(line)
                self._comfyui_noted = True
        elif run.parallel.sharded:
            network.export_state_dict(save.format, DTYPES[save.dtype])  # the gather is collective
        if not final:
            # Every file is written atomically (toolkit/atomic.py): a kill or a failed write
            # mid-save leaves the previous checkpoint and state untouched. The checksums
            # come last and are verified on resume.
            state = self._training_state() if (run.dist.is_main or run.parallel.sharded) else None
            if run.dist.is_main:
                save_state(state_path_for(lora_path), state)
                write_checksums(lora_path)
                keep = save.max_step_saves_to_keep
                steps = list_step_checkpoints(run.out.folder, run.name)
                for old_step in steps[: max(0, len(steps) - keep)] if keep > 0 else []:
                    for old in checkpoint_files(run.out.lora_path(old_step)):
                        old.unlink(missing_ok=True)
        run.dist.barrier()
        run.last_checkpoint = str(lora_path)
        run.out.info(f"saved {lora_path.name}")
        return lora_path
