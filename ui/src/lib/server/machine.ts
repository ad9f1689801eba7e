/**
 * What the machine is doing: GPUs (name, memory used/total, utilisation, from nvidia-smi
 * when it exists), CPU use and RAM. Read on demand, at most once a second (every open
 * page polls it).
 */
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";

export interface GpuInfo {
  index: number;
  name: string;
  memoryUsedMiB: number;
  memoryTotalMiB: number;
  utilizationPct: number | null;
}

export interface MachineInfo {
  gpus: GpuInfo[];
  gpuError: string | null; // nvidia-smi present but failing (a driver problem is worth showing)
  cpu: { model: string; cores: number; usedPct: number | null; load1: number };
  ram: { totalBytes: number; usedBytes: number };
  at: number;
}

const QUERY = "index,name,memory.used,memory.total,utilization.gpu";

/** Rows of `nvidia-smi --query-gpu=<QUERY> --format=csv,noheader,nounits`. */
export function parseNvidiaSmi(text: string): GpuInfo[] {
  const num = (v: string) => (/^\s*[\d.]+\s*$/.test(v) ? Number(v) : null); // "[N/A]" on some boards
  return text.split("\n").filter((l) => l.trim()).map((line) => {
    const [index, name, used, total, util] = line.split(",").map((c) => c.trim());
    return {
      index: Number(index), name, memoryUsedMiB: num(used) ?? 0, memoryTotalMiB: num(total) ?? 0, utilizationPct: num(util),
    };
  });
}

/** GPUs as nvidia-smi sees them; none (and no error) when there is no nvidia-smi. */
export function readGpus(command = "nvidia-smi"): { gpus: GpuInfo[]; error: string | null } {
  // Not a file of this project: keep the bundler from tracing it.
  const out = spawnSync(/* turbopackIgnore: true */ command, [`--query-gpu=${QUERY}`, "--format=csv,noheader,nounits"], {
    encoding: "utf8", timeout: 4000, shell: false,
  });
  if (out.error) {
    if ((out.error as NodeJS.ErrnoException).code === "ENOENT") return { gpus: [], error: null };
    return { gpus: [], error: `${command}: ${out.error.message}` };
  }
  if (out.status !== 0) return { gpus: [], error: `${command} exited ${out.status}: ${(out.stderr || out.stdout).trim().slice(0, 300)}` };
  return { gpus: parseNvidiaSmi(out.stdout), error: null };
}

/** RAM in use: total minus MemAvailable (free memory alone counts the page cache as used). */
function ramUsed(): number {
  try {
    const m = /^MemAvailable:\s+(\d+) kB/m.exec(fs.readFileSync("/proc/meminfo", "utf8"));
    if (m) return os.totalmem() - Number(m[1]) * 1024;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
  }
  return os.totalmem() - os.freemem(); // not Linux
}

function cpuTimes() {
  let idle = 0;
  let total = 0;
  for (const c of os.cpus()) {
    idle += c.times.idle;
    total += c.times.user + c.times.nice + c.times.sys + c.times.irq + c.times.idle;
  }
  return { idle, total };
}

const KEY = Symbol.for("ltx2-trainer-ui.machine");
type State = { last?: MachineInfo; times?: { idle: number; total: number } };
const state = ((globalThis as { [KEY]?: State })[KEY] ??= {});

export function machineInfo(maxAgeMs = 1000): MachineInfo {
  const now = Date.now();
  if (state.last && now - state.last.at < maxAgeMs) return state.last;
  const times = cpuTimes();
  const prev = state.times;
  // CPU use between two readings; the first reading has nothing to compare with.
  const usedPct = prev && times.total > prev.total
    ? Math.round(1000 * (1 - (times.idle - prev.idle) / (times.total - prev.total))) / 10
    : null;
  state.times = times;
  const { gpus, error } = readGpus();
  const cpus = os.cpus();
  state.last = {
    gpus,
    gpuError: error,
    cpu: { model: cpus[0]?.model ?? "unknown", cores: cpus.length, usedPct, load1: os.loadavg()[0] },
    ram: { totalBytes: os.totalmem(), usedBytes: ramUsed() },
    at: now,
  };
  return state.last;
}
