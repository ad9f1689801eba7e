"""The base samples of the voice metric, made at a run start's first sampling (toolkit/voice/base_samples.py).

Only with the voice metric on: nothing else reads them, and each costs a full render (none
when the step-0 samples are the base samples: see toolkit/voice/base_samples.py).
"""

from __future__ import annotations

from pathlib import Path

from jobs.process.run_state import RunState
from toolkit.run.sampling import SampleJob
from toolkit.voice.base_samples import base_sample_paths, model_source, render_base_samples


class BaseSamples:
    """Checked once per start (the files are kept, a resume finds them)."""

    def __init__(self, state: RunState):
        self.state = state
        self._checked = False

    def ensure(self, jobs: list[SampleJob]) -> list[tuple[int, Path]]:
        """Render the base sample of every job whose file is not kept yet, with the network
        switched off, before the first sampling of this start is scored. At step 0 of a network
        that adds nothing yet (`starts_as_base`), the step-0 render is that base sample: nothing
        is rendered here, and the (job index, base path) pairs to copy from this sampling's own
        files are returned (toolkit/voice/base_samples.py:copy_as_base)."""
        if self._checked:
            return []
        self._checked = True
        run = self.state
        paths = base_sample_paths(run.out.base_samples, jobs, model_source(run.config))
        plan = None  # None: the voice metric is off (only the main process scores, so only it knows)
        if run.dist.is_main and run.voice_metric is not None:
            plan = [index for index, path in enumerate(paths) if not path.is_file()]
        missing = run.dist.gather(plan)[0]  # a sharded model renders on every rank: one plan for all
        if missing is None:
            return []
        what = "base samples (network off) for the voice metric's 'vs base'"
        if not missing:
            run.out.info(f"{what}: {len(jobs)} kept in {run.out.base_samples} reused")
            return []
        if run.step == 0 and run.starts_as_base:
            run.out.info(f"{what}: the step-0 samples are the base samples (the network adds nothing yet), "
                         f"{len(missing)} of {len(jobs)} copied into {run.out.base_samples} after rendering")
            return [(index, paths[index]) for index in missing]
        run.out.info(f"{what}: rendering {len(missing)} of "
                     f"{len(jobs)} into {run.out.base_samples} (kept there and reused when the run resumes)")
        if run.dist.is_main or run.parallel.sharded:
            render_base_samples(run.model, run.network, [jobs[i] for i in missing], [paths[i] for i in missing],
                                write=run.dist.is_main,
                                encode_text=run.text.for_sampling, log=run.out)
        run.dist.barrier()
        return []
