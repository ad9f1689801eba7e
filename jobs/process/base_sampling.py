"""The base samples of the voice metric, made at a run start's first sampling (toolkit/voice/base_samples.py).

Only with the voice metric on: nothing else reads them, and each costs a full render (none
when the step-0 samples are the base samples: see toolkit/voice/base_samples.py).
"""

from __future__ import annotations

from pathlib import Path

from toolkit.run.sampling import SampleJob
from toolkit.voice.base_samples import base_sample_paths, model_source, render_base_samples


class BaseSamplesMixin:
    """Needs: config, out, dist, parallel, model, network, batches, voice_metric, step (see TrainProcess)."""

    _base_samples_checked = False  # once per start: the files are kept, a resume finds them
    starts_as_base = False  # the network adds nothing at step 0 (set by TrainProcess._build_network)

    def _ensure_base_samples(self, jobs: list[SampleJob]) -> list[tuple[int, Path]]:
        """Render the base sample of every job whose file is not kept yet, with the network
        switched off, before the first sampling of this start is scored. At step 0 of a network
        that adds nothing yet (`starts_as_base`), the step-0 render is that base sample: nothing
        is rendered here, and the (job index, base path) pairs to copy from this sampling's own
        files are returned (toolkit/voice/base_samples.py:copy_as_base)."""
        if self._base_samples_checked:
            return []
        self._base_samples_checked = True
        paths = base_sample_paths(self.out.base_samples, jobs, model_source(self.config))
        plan = None  # None: the voice metric is off (only the main process scores, so only it knows)
        if self.dist.is_main and self.voice_metric is not None:
            plan = [index for index, path in enumerate(paths) if not path.is_file()]
        missing = self.dist.gather(plan)[0]  # a sharded model renders on every rank: one plan for all
        if missing is None:
            return []
        what = "base samples (network off) for the voice metric's 'vs base'"
        if not missing:
            self.out.info(f"{what}: {len(jobs)} kept in {self.out.base_samples} reused")
            return []
        if self.step == 0 and self.starts_as_base:
            self.out.info(f"{what}: the step-0 samples are the base samples (the network adds nothing yet), "
                          f"{len(missing)} of {len(jobs)} copied into {self.out.base_samples} after rendering")
            return [(index, paths[index]) for index in missing]
        self.out.info(f"{what}: rendering {len(missing)} of "
                      f"{len(jobs)} into {self.out.base_samples} (kept there and reused when the run resumes)")
        if self.dist.is_main or self.parallel.sharded:
            render_base_samples(self.model, self.network, [jobs[i] for i in missing], [paths[i] for i in missing],
                                write=self.dist.is_main,
                                encode_text=self.text.for_sampling, log=self.out)
        self.dist.barrier()
        return []
