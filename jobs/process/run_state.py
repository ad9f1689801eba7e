"""What the run's parts share (`RunState`), and the hooks the training loop calls on them (`RunPart`).

TrainProcess (BaseSDTrainProcess.py) builds the run: the model, the network, the loss, the
optimizer, and the parts around the loop (checkpointing.py, validation_steps.py,
sampling_steps.py, progress.py, ...), each a plain object given in its constructor the run
state and the other parts whose public methods it calls. A part reads and writes the run only
through the fields declared here; it never reaches into the process or another part.

The loop calls each hook on its list of parts, in the list's order (TrainProcess.parts):

    on_train_start()                   before the first step of this start (a resumed run's too)
    on_post_optimizer_step(metrics)    a step is taken and counted (state.step); nothing of it
                                       is written yet
    on_step_end()                      after the step's metrics are logged and its periodic
                                       checkpoint (save_every) is saved: the step's other periodic work
    on_post_save(path, final)          after every checkpoint (final: the final LoRA file)
    on_train_end()                     the steps are over, before the last checkpoint and the
                                       final file are written
    on_run_end()                       after the final file and its samples, before the run
                                       says it is done

A part whose `state_key` is set has its `state_dict()` saved with every checkpoint under that
key and given back to `load_state_dict` on resume (after `state.step` is restored).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from toolkit.train.strict_audio import ItemCounts

if TYPE_CHECKING:
    import torch

    from toolkit.lora.network import Network
    from toolkit.memory.levers import Levers
    from toolkit.processes.distributed import DistContext
    from toolkit.processes.parallel import Parallel
    from toolkit.run.output import RunOutput
    from toolkit.run.step_clock import StepClock
    from toolkit.train.batch_builder import BatchBuilder, TextCache


@dataclass
class RunState:
    """The run as its parts see it. Given at the start: the config and where the run writes;
    then where the run stands; then what `TrainProcess.prepare` builds, in that order (None
    until built). Each comment says who writes the field after the start."""

    config: Any  # the process's config section (jobs/process/ reads config objects; toolkit/ gets settings)
    name: str
    out: RunOutput
    dist: DistContext
    clock: StepClock  # step pace without sampling, saving and validation (toolkit/run/step_clock.py)

    step: int = 0  # steps done: the loop; resume (checkpointing.py); owed samples (due_samples.py)
    counts: ItemCounts = field(default_factory=ItemCounts)  # the trained items' voice: train_step; resume
    nonfinite_total: int = 0  # steps skipped for a non-finite loss: train_step; resume
    last_checkpoint: str | None = None  # checkpointing.py
    last_sample: str | None = None  # sampling_steps.py
    complete: bool = False  # prepare: the run had finished before this start

    device: torch.device | None = None
    dtype: torch.dtype | None = None
    levers: Levers | None = None  # the memory levers in force (toolkit/memory/levers.py)
    generator: torch.Generator | None = None  # the run's one generator (docs/architecture.md, One step)
    model: Any = None  # the LTX-2 adapter (extensions_built_in/diffusion_models/ltx2/ltx2.py)
    text: TextCache | None = None  # every prompt, encoded in the caption phases (phase_setup.py)
    items: list | None = None  # the encoded training items (dataset_setup.py)
    validation_items: list = field(default_factory=list)
    silence_latents: Any = None  # the encoder's silent audio latent per item length
    network: Network | None = None  # owed samples build one of their own (due_samples.py)
    parallel: Parallel | None = None  # DDP/FSDP around the transformer, or the single-process stand-in
    starts_as_base: bool = False  # the network adds nothing at step 0: the step-0 samples are the base samples
    trainer: Any = None  # the loss (extensions_built_in/sd_trainer/SDTrainer.py)
    host_step: Any = None  # lever (d): the optimizer steps host copies (toolkit/memory/optimizer_offload.py)
    optimizer: Any = None
    trained_parameters: list = field(default_factory=list)  # what the optimizer steps (and clipping clips)
    scheduler: Any = None
    sampler: Any = None  # the batch order (toolkit/train/batching.py), with the audio quota when on
    batches: BatchBuilder | None = None
    voice_metric: Any = None  # toolkit/voice/metric.py; None when sample.voice_metric is off


class RunPart:
    """A part of the run the loop calls at its moments (module doc); every hook does nothing
    unless the part says otherwise."""

    state_key: str | None = None  # its state's key in each checkpoint; None: it keeps none

    def on_train_start(self) -> None:
        return None

    def on_post_optimizer_step(self, metrics: dict) -> None:
        return None

    def on_step_end(self) -> None:
        return None

    def on_post_save(self, path: Path, final: bool) -> None:
        return None

    def on_train_end(self) -> None:
        return None

    def on_run_end(self) -> None:
        return None

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict | None) -> None:
        return None
