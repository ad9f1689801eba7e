/** What the job page says about a job's state and its trainer's (pure, for the page and its tests). */

const ACTIVE = new Set(["queued", "running", "stopping"]);
/**
 * The trainer's final states (status.json): the job's own state says these once the
 * process has exited. Shown beside an active job they contradict it: right after Stop the
 * trainer writes "stopped" a moment before it exits (the page would say "stopping" and
 * "trainer: stopped" together), and a resumed run shows the last run's state until it
 * writes its first. So the trainer's state is shown only while it says what it is doing.
 */
const TRAINER_FINAL = new Set(["stopped", "done", "error"]);

export function trainerStateShown(jobState: string, trainerState: string | null | undefined): string | null {
  if (!trainerState || !ACTIVE.has(jobState) || TRAINER_FINAL.has(trainerState)) return null;
  return trainerState;
}
