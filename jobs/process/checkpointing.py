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

from toolkit.errors import UserInputError


class CheckpointMixin:
    """Needs: config, name, out, dist, network, optimizer, scheduler, trainer, sampler,
    generator, parallel, step and the item counters (see TrainProcess)."""

    def _training_state(self) -> dict:
        from toolkit.checkpoint import rng_state
        from toolkit.parallel import optimizer_state

        return {
            "step": self.step,
            "network": {k: v.detach().cpu() for k, v in self.network.peft_state_dict().items()},
            "optimizer": optimizer_state(self.parallel, self.optimizer),
            "optimizer_layout": "sharded" if self.parallel.sharded else "plain",
            "scheduler": self.scheduler.state_dict(),
            "balancer": self.trainer.balancer.state_dict(),
            "sampler": self.sampler.state_dict(),
            "generator": self.generator.get_state(),
            "rng": rng_state(),
            "world_size": self.dist.world_size,
            "model_version": self.network.settings.model_version,
            "counters": {"items_seen": self.items_seen, "items_supervised": self.items_supervised,
                         "nonfinite_total": self.nonfinite_total},
        }

    def _load_resume_state(self) -> dict | None:
        """The newest state of this run (every rank reads the same file), or None."""
        from toolkit.checkpoint import list_states, load_state

        states = list_states(self.out.folder, self.name)
        found = self.dist.gather(states[-1][0] if states else None)
        if len(set(found)) > 1:
            raise UserInputError(
                f"the processes see different checkpoints in {self.out.folder} (newest step per rank: {found}): "
                "on several machines training_folder must be a folder every machine shares")
        if not states:
            return None
        step, path = states[-1]
        state = load_state(path)
        state["_path"] = path
        state["_step"] = step
        return state

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
        from toolkit.checkpoint import set_rng_state
        from toolkit.parallel import load_optimizer_state

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
        load_optimizer_state(self.parallel, self.optimizer, state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.trainer.balancer.load_state_dict(state["balancer"])
        self.sampler.load_state_dict(state["sampler"])
        self.generator.set_state(state["generator"])
        set_rng_state(state["rng"])
        counters = state.get("counters", {})
        self.items_seen = counters.get("items_seen", 0)
        self.items_supervised = counters.get("items_supervised", 0)
        self.nonfinite_total = counters.get("nonfinite_total", 0)
        self.step = state["step"]
        self.last_checkpoint = str(self.out.lora_path(state["_step"]))
        self.out.info(f"resuming from step {self.step} ({state['_path'].name})")

    def save_checkpoint(self, final: bool = False) -> Path:
        """Every rank calls this at the same step; the main process writes, all wait for it."""
        from extensions_built_in.diffusion_models.ltx2.ltx2 import DTYPES
        from toolkit.checkpoint import list_step_checkpoints, save_state, state_path_for

        save = self.config.save
        lora_path = self.out.lora_path(None if final else self.step)
        if self.dist.is_main:
            self.network.save(lora_path, fmt=save.format, dtype=DTYPES[save.dtype],
                              extra_metadata={"ltx2_trainer.step": self.step, "ltx2_trainer.name": self.name})
        elif self.parallel.sharded:
            self.network.export_state_dict(save.format, DTYPES[save.dtype])  # the gather is collective
        if not final:
            # Both files are written atomically (temp file + rename): a kill mid-save leaves
            # the previous checkpoint and state untouched.
            state = self._training_state() if (self.dist.is_main or self.parallel.sharded) else None
            if self.dist.is_main:
                save_state(state_path_for(lora_path), state)
                keep = save.max_step_saves_to_keep
                steps = list_step_checkpoints(self.out.folder, self.name)
                for old_step in steps[: max(0, len(steps) - keep)] if keep > 0 else []:
                    old_lora = self.out.lora_path(old_step)
                    state_path_for(old_lora).unlink(missing_ok=True)
                    old_lora.unlink(missing_ok=True)
        self.dist.barrier()
        self.last_checkpoint = str(lora_path)
        self.out.info(f"saved {lora_path.name}")
        return lora_path
