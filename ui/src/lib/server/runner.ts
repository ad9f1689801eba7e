/**
 * The queue: runs one job at a time as `python run.py <job config>`.
 *
 * The database is the source of truth. `tick()` starts the oldest queued job when nothing
 * runs; a child's exit settles its row from its exit code and the run's status.json.
 * Stop sends SIGINT to the job's process group: the trainer finishes its step, saves a
 * checkpoint and its state, and exits 0; starting the job again resumes from there.
 *
 * Runs outlive the server (they are detached). On start-up `recover()` looks at every row
 * left "running": if its pid is alive and is that job's trainer, the run is adopted and
 * watched by polling; otherwise the row is settled from status.json.
 */
import fs from "node:fs";
import path from "node:path";
import type { ChildProcess } from "node:child_process";
import { JobRow, JobStore } from "@/lib/server/db";
import { Settings } from "@/lib/server/settings";
import { spawnTraining } from "@/lib/server/python";
import { JOB_CONFIG_FILE, PROCESS_LOG_FILE, RunStatus, readStatus, tailFile } from "@/lib/server/runFiles";

export function jobFolder(s: Settings, name: string): string {
  return path.join(s.outputRoot, name);
}

export interface Outcome {
  state: "completed" | "stopped" | "error";
  error: string | null;
}

/** The last "error: ..." line a run printed (run.py reports failures that way). */
export function lastErrorLine(log: string): string | null {
  const lines = log.split("\n").map((l) => l.trim()).filter(Boolean);
  for (let i = lines.length - 1; i >= 0; i--) {
    if (/^error:/i.test(lines[i]) || /Error:/.test(lines[i])) return lines[i];
  }
  return null;
}

/**
 * How a run ended. `code` is null for a run we could not wait on (adopted after a server
 * restart) or that was killed by a signal.
 */
export function outcomeOf(
  code: number | null,
  signal: NodeJS.Signals | null,
  status: RunStatus | null,
  stopRequested: boolean,
  log: string,
): Outcome {
  const trainerState = status?.state;
  if (trainerState === "done" && (code === 0 || code === null)) return { state: "completed", error: null };
  // A stop by Ctrl-C or SIGTERM saves and exits 130 or 143 (docs/resume.md).
  if (trainerState === "stopped" && (code === 0 || code === 130 || code === 143 || code === null)) return { state: "stopped", error: null };
  if (stopRequested && (code === 0 || code === 130 || signal === "SIGINT" || signal === "SIGKILL" || code === null)) {
    return { state: "stopped", error: null };
  }
  const how = code !== null ? `exit code ${code}` : signal ? `signal ${signal}` : "it is no longer running";
  const why = (trainerState === "error" && status?.error) || lastErrorLine(log);
  return { state: "error", error: why ? `${why} (${how})` : `the trainer ended with ${how}` };
}

export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Whether `pid` is the trainer of the job whose config is `configPath` (not a reused pid). */
export function pidRunsConfig(pid: number, configPath: string): boolean {
  let cmdline: string;
  try {
    cmdline = fs.readFileSync(`/proc/${pid}/cmdline`, "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT" && !fs.existsSync("/proc/self")) return pidAlive(pid); // no procfs (macOS)
    return false;
  }
  const zombie = (() => {
    try {
      return / Z /.test(fs.readFileSync(`/proc/${pid}/stat`, "utf8").replace(/^.*\)/, ""));
    } catch {
      return true;
    }
  })();
  return !zombie && cmdline.split("\0").includes(configPath);
}

export class Runner {
  private child: ChildProcess | null = null;
  private currentId: number | null = null;
  private adoptTimer: NodeJS.Timeout | null = null;

  constructor(
    private readonly store: JobStore,
    private readonly s: Settings,
    private readonly log: (msg: string) => void = (m) => console.log(`[ltx2-ui] ${m}`),
  ) {}

  configPath(row: JobRow): string {
    return path.join(jobFolder(this.s, row.name), JOB_CONFIG_FILE);
  }

  private processLog(row: JobRow): string {
    return path.join(jobFolder(this.s, row.name), PROCESS_LOG_FILE);
  }

  get runningId(): number | null {
    return this.currentId;
  }

  /** Settle or adopt rows left running by a previous server process. */
  recover(): void {
    for (const row of this.store.inStates(["running", "stopping"])) {
      if (row.pid && pidRunsConfig(row.pid, this.configPath(row)) && this.currentId === null) {
        this.log(`job ${row.id} (${row.name}) is still running as pid ${row.pid}: watching it`);
        this.adopt(row);
      } else {
        this.settle(row, null, null);
      }
    }
  }

  /** Start the next queued job if none is running. */
  tick(): void {
    if (this.currentId !== null) return;
    const next = this.store.nextQueued();
    if (next) this.launch(next);
  }

  private launch(row: JobRow): void {
    const folder = jobFolder(this.s, row.name);
    const configPath = this.configPath(row);
    try {
      fs.mkdirSync(folder, { recursive: true });
      fs.writeFileSync(configPath, row.config_yaml);
      fs.appendFileSync(this.processLog(row), `\n=== ${new Date().toISOString()} start: run.py ${configPath}\n`);
    } catch (err) {
      this.store.update(row.id, { state: "error", error: `cannot write the job files: ${(err as Error).message}` });
      return;
    }
    let child: ChildProcess;
    try {
      child = spawnTraining(this.s, configPath, this.processLog(row));
    } catch (err) {
      this.store.update(row.id, { state: "error", error: `cannot start the trainer: ${(err as Error).message}` });
      return;
    }
    this.child = child;
    this.currentId = row.id;
    this.store.update(row.id, {
      state: "running", pid: child.pid ?? null, exit_code: null, error: null, stop_requested: 0,
      started_at: new Date().toISOString(), finished_at: null,
    });
    this.log(`job ${row.id} (${row.name}) started as pid ${child.pid}`);
    child.on("error", (err) => {
      // spawn failures (no python) arrive here instead of "exit".
      this.finish(row.id, null, null, `cannot start ${this.s.python}: ${err.message}`);
    });
    child.on("exit", (code, signal) => this.finish(row.id, code, signal));
  }

  private adopt(row: JobRow): void {
    this.currentId = row.id;
    this.adoptTimer = setInterval(() => {
      const fresh = this.store.get(row.id);
      if (fresh?.pid && pidRunsConfig(fresh.pid, this.configPath(fresh))) return;
      clearInterval(this.adoptTimer!);
      this.adoptTimer = null;
      this.finish(row.id, null, null);
    }, 1000);
    this.adoptTimer.unref();
  }

  private finish(id: number, code: number | null, signal: NodeJS.Signals | null, spawnError?: string): void {
    if (this.currentId !== id) return; // "error" and "exit" can both fire
    this.child = null;
    this.currentId = null;
    const row = this.store.get(id);
    if (row) {
      if (spawnError) this.store.update(id, { state: "error", error: spawnError, pid: null, finished_at: new Date().toISOString() });
      else this.settle(row, code, signal);
    }
    this.tick();
  }

  private settle(row: JobRow, code: number | null, signal: NodeJS.Signals | null): void {
    const folder = jobFolder(this.s, row.name);
    let status: RunStatus | null = null;
    let statusProblem = "";
    try {
      status = readStatus(folder);
    } catch (err) {
      statusProblem = ` (status.json unreadable: ${(err as Error).message})`;
    }
    const outcome = outcomeOf(code, signal, status, Boolean(row.stop_requested), tailFile(this.processLog(row), 40));
    this.store.update(row.id, {
      state: outcome.state,
      error: outcome.error ? outcome.error + statusProblem : null,
      exit_code: code,
      pid: null,
      finished_at: new Date().toISOString(),
    });
    this.log(`job ${row.id} (${row.name}) ${outcome.state}${outcome.error ? `: ${outcome.error}` : ""}`);
  }

  /**
   * Stop a job: a queued one leaves the queue; a running one gets SIGINT (its group), or
   * SIGKILL when `force` (a second stop while the trainer is saving).
   */
  stop(id: number, force = false): JobRow | null {
    const row = this.store.get(id);
    if (!row) return null;
    if (row.state === "queued") {
      return this.store.transition(id, ["queued"], { state: row.started_at ? "stopped" : "created", queued_at: null });
    }
    if ((row.state === "running" || row.state === "stopping") && row.pid) {
      const updated = this.store.update(id, { state: "stopping", stop_requested: 1 });
      try {
        process.kill(-row.pid, force ? "SIGKILL" : "SIGINT");
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "ESRCH") throw err;
        // Already gone: its exit handler (or the adopt poll) settles the row.
      }
      return updated;
    }
    return row;
  }

  /** Put a job in the queue (start, or resume: the trainer resumes from its last state). */
  enqueue(id: number): JobRow | null {
    const row = this.store.transition(id, ["created", "stopped", "completed", "error"], {
      state: "queued", queued_at: new Date().toISOString(), error: null, stop_requested: 0,
    });
    if (row) this.tick();
    return row ? this.store.get(id)! : null;
  }
}
