"""Samples a finished run still owes, rendered when the same config is started again.

The final sampling comes after the final LoRA is saved, outside the training loop, so a
signal there stops the program at once (exit 130/143). The next start then finds the run
complete (the final LoRA is there) and, without this, never makes those samples: the
status, the metrics and the voice-similarity chart would miss the run's last point.

A complete run owes the samples of
- its final step (whenever sampling is on: the run always samples its end);
- each periodic step (`sample.sample_every`, from `sample_start_step`) before that, and
  step 0 unless `skip_first_sample`, whose files are missing (a kill, or files removed).
Each is rendered from the weights it stands for: the final LoRA for the final step, the
step's own kept checkpoint for a periodic one, the starting adapter for step 0 (the
pretrained LoRA, or the zero-initialised one: the base model). A periodic step whose
checkpoint is no longer kept cannot be rendered faithfully; it is named in one warning.
Nothing is trained again; the samples are scored by the voice metric like any others.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from jobs.process.checkpointing import Checkpoints
from jobs.process.phase_setup import Phases
from jobs.process.run_state import RunState
from jobs.process.sampling_steps import Samples
from jobs.process.settings_build import network_settings
from toolkit.lora.network import Network
from toolkit.processes.parallel import Parallel

MAX_LISTED = 8  # steps named in the warning about samples that cannot be rendered


@dataclass(frozen=True)
class DueSampling:
    step: int
    source: Path | None  # the LoRA file holding that step's weights; None: the starting adapter

    def describe(self) -> str:
        where = self.source.name if self.source is not None else "the starting adapter"
        return f"step {self.step} (from {where})"


def sample_file(samples: Path, step: int, index: int) -> Path:
    """The name every sampling writes (toolkit/run/sampling.py)."""
    return samples / f"{step:09d}_{index:02d}.mp4"


def due_samplings(config, out, final_step: int) -> tuple[list[DueSampling], list[int]]:
    """(samplings to render now, oldest first; periodic steps whose weights are gone) for a
    complete run whose final LoRA was saved at `final_step`."""
    sample, train = config.sample, config.train
    if train.disable_sampling or not sample.samples or final_step < 0:
        return [], []
    count = len(sample.samples)
    present = {p.name for p in out.samples.glob("*.mp4")} if out.samples.is_dir() else set()

    def missing(step: int) -> bool:
        return any(sample_file(out.samples, step, i).name not in present for i in range(count))

    periodic = [s for s in range(sample.sample_every, final_step, sample.sample_every)
                if s >= sample.sample_start_step]
    if not train.skip_first_sample:
        periodic.insert(0, 0)
    due, lost = [], []
    for step in periodic:
        if not missing(step):
            continue
        if step == 0:
            due.append(DueSampling(0, None))
        elif out.lora_path(step).is_file():
            due.append(DueSampling(step, out.lora_path(step)))
        else:
            lost.append(step)
    if missing(final_step):
        due.append(DueSampling(final_step, out.lora_path(None)))
    return due, lost


def _joined(parts: list[str]) -> str:
    return parts[0] if len(parts) == 1 else f"{', '.join(parts[:-1])} and {parts[-1]}"


class DueSamples:
    """`load_model(prompts)`: the run's model loading (BaseSDTrainProcess.py), phase by phase."""

    def __init__(self, state: RunState, checkpoints: Checkpoints, phases: Phases, samples: Samples,
                 load_model: Callable[[int], None]):
        self.state = state
        self.checkpoints = checkpoints
        self.phases = phases
        self.samples = samples
        self.load_model = load_model
        self._starting_adapter: dict | None = None

    def render(self) -> None:
        """On a start that finds the run complete: render and score the samples it owes (see
        the module doc), saying so in one line. Only the main process loads the model and
        renders (the base is not sharded for this); the others wait at each sampling.
        Re-rendered samples are scored and charted but pick no best step: the best-step files
        and the tracker's state stay as the run left them (its state lives in the checkpoints)."""
        run = self.state
        plan = due_samplings(run.config, run.out, self.checkpoints.final_step()) if run.dist.is_main else None
        due, lost = run.dist.gather(plan)[0]  # one plan: the main process renders into the folder
        if lost:
            listed = ", ".join(map(str, lost[:MAX_LISTED])) + (", ..." if len(lost) > MAX_LISTED else "")
            run.out.warning(f"{len(lost)} sampling(s) of this run are missing and cannot be rendered (steps "
                            f"{listed}): their checkpoints are no longer kept (save.max_step_saves_to_keep)")
        if not due:
            return
        run.out.info(f"samples of {_joined([d.describe() for d in due])} were never made: rendering them "
                     "now; nothing is trained again")
        run.out.remove_stale_temp_files()  # a kill during sampling can leave a half-written mp4's temp file
        run.out.update_status(state="loading")
        self.samples.setup_voice_metric()
        run.parallel = Parallel(run.dist)
        if run.dist.is_main:  # the sample prompts' caption phases, then the sampling phase
            sample_prompts = self.phases.sample_prompts()
            self.load_model(len(sample_prompts))
            run.text = self.phases.encode_text(set(), sample_prompts)
            self.phases.enter("sample")
            self._build_sampling_network()
        for sampling in due:
            if run.dist.is_main:
                self._load_sampling_weights(sampling.source)
            run.step = sampling.step
            self.samples.sample(force=True)

    def _build_sampling_network(self) -> None:
        run = self.state
        settings = network_settings(run.config.network, run.model.version.number, run.levers)
        connectors = run.model.connectors if run.config.train.train_text_encoder else None
        run.network = Network(run.model.transformer, settings, connectors=connectors, device=run.device,
                              key_namer=run.model.lora_key_namer)
        self._starting_adapter = {k: v.detach().clone() for k, v in run.network.peft_state_dict().items()}

    def _load_sampling_weights(self, source: Path | None) -> None:
        network = self.state.network
        if source is not None:
            network.load_file(source)
            return
        network.load_peft_state_dict(self._starting_adapter)  # step 0: as training started
        pretrained = self.state.config.network.pretrained_lora_path
        if pretrained:
            network.load_file(pretrained)
