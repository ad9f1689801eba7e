/**
 * The queue on a real SQLite file with a fake trainer (tests/fixtures/fake_run.py):
 * one job at a time, stop = SIGINT -> "stopped", failures -> "error" with the trainer's
 * message, and jobs left "running" by a dead server are settled or adopted on start-up.
 */
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { JobStore, JobState, openDatabase } from "@/lib/server/db";
import { Runner, jobFolder, outcomeOf } from "@/lib/server/runner";
import { Settings } from "@/lib/server/settings";

const REPO = path.resolve(__dirname, "../../..");
const PYTHON = path.join(REPO, ".venv/bin/python");

let tmp: string;
let s: Settings;
let store: JobStore;
const runners: Runner[] = [];

async function until<T>(what: string, fn: () => T | undefined | null | false, timeoutMs = 20_000): Promise<T> {
  const t0 = Date.now();
  for (;;) {
    const v = fn();
    if (v) return v;
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const stateOf = (id: number) => store.get(id)!.state;
const waitState = (id: number, state: JobState) => until(`job ${id} ${state}`, () => stateOf(id) === state);

function newRunner() {
  const r = new Runner(store, s, () => {});
  runners.push(r);
  return r;
}

beforeAll(() => {
  tmp = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), "ltx2-queue-")));
  const repo = path.join(tmp, "repo");
  fs.mkdirSync(repo);
  fs.copyFileSync(path.join(__dirname, "../fixtures/fake_run.py"), path.join(repo, "run.py"));
  s = {
    repoRoot: repo, uiRoot: path.join(repo, "ui"), python: PYTHON, dbPath: path.join(tmp, "jobs.db"),
    datasetsRoot: path.join(tmp, "data"), outputRoot: path.join(tmp, "out"), authToken: null,
    bindHost: "127.0.0.1", port: null, allowedHosts: [], cacheDir: path.join(tmp, "cache"), maxUploadBytes: 1 << 20,
  };
  store = new JobStore(openDatabase(s.dbPath));
});

afterAll(async () => {
  for (const row of store.inStates(["running", "stopping"])) {
    if (row.pid) try { process.kill(-row.pid, "SIGKILL"); } catch { /* already gone */ }
  }
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe("queue", () => {
  it("runs one job at a time and stops with SIGINT", async () => {
    const runner = newRunner();
    const a = store.insert("a", "fake_mode: long\n");
    const b = store.insert("b", "fake_mode: done\n");
    runner.enqueue(a.id);
    runner.enqueue(b.id);
    await until("a writes status", () => fs.existsSync(path.join(jobFolder(s, "a"), "status.json")));
    expect(stateOf(a.id)).toBe("running");
    expect(stateOf(b.id)).toBe("queued");
    runner.stop(a.id);
    expect(stateOf(a.id)).toBe("stopping");
    await waitState(a.id, "stopped");
    await waitState(b.id, "completed"); // the queue moved on by itself
    expect(store.get(a.id)!.pid).toBeNull();
    expect(fs.readFileSync(path.join(jobFolder(s, "a"), "ui_job_config.yaml"), "utf8")).toBe("fake_mode: long\n");
  });

  it("resumes a stopped job by starting it again", async () => {
    const runner = newRunner();
    const row = store.byName("a")!;
    runner.enqueue(row.id);
    await waitState(row.id, "running");
    await until("resume line", () => fs.readFileSync(path.join(jobFolder(s, "a"), "ui_process.log"), "utf8").includes("resuming"));
    runner.stop(row.id);
    await waitState(row.id, "stopped");
  });

  it("reports a failed run with the trainer's error line", async () => {
    const runner = newRunner();
    const row = store.insert("c", "fake_mode: fail\n");
    runner.enqueue(row.id);
    await waitState(row.id, "error");
    expect(store.get(row.id)!.error).toMatch(/error: boom.*exit code 1/);
    expect(store.get(row.id)!.exit_code).toBe(1);
  });

  it("takes a queued job out of the queue on stop", () => {
    const runner = newRunner();
    const busy = store.insert("d", "fake_mode: long\n");
    store.update(busy.id, { state: "queued", queued_at: "2000-01-01" });
    // No tick: test the state change only.
    expect(runner.stop(busy.id)!.state).toBe("created");
    store.delete(busy.id);
  });
});

describe("server restart", () => {
  it("settles a 'running' job whose process is gone", () => {
    const row = store.insert("ghost", "x\n");
    fs.mkdirSync(jobFolder(s, "ghost"), { recursive: true });
    fs.writeFileSync(path.join(jobFolder(s, "ghost"), "status.json"), JSON.stringify({ state: "training", step: 5 }));
    store.update(row.id, { state: "running", pid: 2 ** 22 + 12345 }); // no such pid
    newRunner().recover();
    const after = store.get(row.id)!;
    expect(after.state).toBe("error");
    expect(after.error).toMatch(/no longer running/);
    expect(after.pid).toBeNull();
  });

  it("adopts a job that is still running and settles it when it ends", async () => {
    const row = store.insert("orphan", "fake_mode: long\n");
    const folder = jobFolder(s, "orphan");
    fs.mkdirSync(folder, { recursive: true });
    const config = path.join(folder, "ui_job_config.yaml");
    fs.writeFileSync(config, "fake_mode: long\n");
    // A trainer started by a previous server process (detached, its own group).
    const child = spawn(PYTHON, ["run.py", config], { cwd: s.repoRoot, detached: true, stdio: "ignore" });
    await until("orphan status", () => fs.existsSync(path.join(folder, "status.json")));
    store.update(row.id, { state: "running", pid: child.pid! });
    const runner = newRunner();
    runner.recover();
    expect(runner.runningId).toBe(row.id);
    expect(stateOf(row.id)).toBe("running");
    runner.stop(row.id);
    await waitState(row.id, "stopped");
  });
});

describe("outcomeOf", () => {
  it("maps exit codes and the trainer's status to job states", () => {
    expect(outcomeOf(0, null, { state: "done" }, false, "")).toEqual({ state: "completed", error: null });
    expect(outcomeOf(0, null, { state: "stopped" }, true, "")).toEqual({ state: "stopped", error: null });
    expect(outcomeOf(130, null, { state: "training" }, true, "")).toEqual({ state: "stopped", error: null });
    // a SIGTERM from outside the UI (a scheduler, `kill`): the trainer saved and exited 143
    expect(outcomeOf(143, null, { state: "stopped" }, false, "")).toEqual({ state: "stopped", error: null });
    expect(outcomeOf(2, null, null, false, "error: config.yaml: bad\n").error).toBe("error: config.yaml: bad (exit code 2)");
    expect(outcomeOf(1, null, { state: "error", error: "NaN loss" }, false, "").error).toBe("NaN loss (exit code 1)");
    expect(outcomeOf(null, "SIGKILL", { state: "training" }, false, "").state).toBe("error");
  });
});
