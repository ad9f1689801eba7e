"use client";
/**
 * GPUs (name, memory used/total, utilisation), CPU and RAM of the training machine, and,
 * on a job page, the trainer's own peak memory at its last step. Polls /api/machine.
 */
import { useEffect, useState } from "react";
import { apiFetch, formatBytes } from "@/lib/client";

interface Gpu { index: number; name: string; memoryUsedMiB: number; memoryTotalMiB: number; utilizationPct: number | null }
interface Machine {
  gpus: Gpu[];
  gpuError: string | null;
  cpu: { model: string; cores: number; usedPct: number | null; load1: number };
  ram: { totalBytes: number; usedBytes: number };
}

function Meter({ label, used, total, text, testId }: { label: string; used: number; total: number; text: string; testId?: string }) {
  const pct = total > 0 ? Math.min(100, (used / total) * 100) : 0;
  return (
    <div className="meter" data-testid={testId}>
      <span className="meter-label">{label}</span>
      <div className="progress small"><div className={`progress-bar${pct > 90 ? " hot" : ""}`} style={{ width: `${pct}%` }} /></div>
      <span className="meter-text">{text}</span>
    </div>
  );
}

const MIB = 1024 * 1024;

export function MachinePanel({ peak }: { peak?: { gb: number | null | undefined; kind: string | null | undefined } }) {
  const [m, setM] = useState<Machine | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    let alive = true;
    const load = async () => {
      try {
        const next = await apiFetch<Machine>("/api/machine");
        if (alive) { setM(next); setError(null); }
      } catch (err) {
        if (alive) setError((err as Error).message);
      }
    };
    load();
    const t = setInterval(load, 3000);
    return () => { alive = false; clearInterval(t); };
  }, []);
  if (!m) return error ? <p className="error-box">Machine: {error}</p> : null;
  return (
    <section className="card machine" data-testid="machine-panel" aria-label="machine">
      {m.gpus.map((g) => (
        <Meter key={g.index} testId="machine-gpu" label={`GPU ${g.index} · ${g.name}`} used={g.memoryUsedMiB} total={g.memoryTotalMiB}
          text={`${formatBytes(g.memoryUsedMiB * MIB)} / ${formatBytes(g.memoryTotalMiB * MIB)}${g.utilizationPct !== null ? ` · ${g.utilizationPct}% busy` : ""}`} />
      ))}
      {m.gpus.length === 0 && <span className="muted meter" data-testid="machine-no-gpu">{m.gpuError ?? "No NVIDIA GPU: training runs on the CPU"}</span>}
      <Meter testId="machine-cpu" label={`CPU · ${m.cpu.cores} cores`} used={m.cpu.usedPct ?? 0} total={100}
        text={m.cpu.usedPct === null ? `load ${m.cpu.load1.toFixed(2)}` : `${m.cpu.usedPct.toFixed(0)}% · load ${m.cpu.load1.toFixed(2)}`} />
      <Meter testId="machine-ram" label="RAM" used={m.ram.usedBytes} total={m.ram.totalBytes}
        text={`${formatBytes(m.ram.usedBytes)} / ${formatBytes(m.ram.totalBytes)}`} />
      {peak && typeof peak.gb === "number" && (
        <span className="meter" data-testid="trainer-peak-mem" title={peak.kind === "cuda_allocated" ? "peak GPU memory allocated by the trainer during its last step" : "the trainer process's peak resident memory so far"}>
          <span className="meter-label">Trainer peak</span>
          <span className="meter-text">{peak.gb.toFixed(2)} GiB {peak.kind === "cuda_allocated" ? "GPU (last step)" : "RAM (so far)"}</span>
        </span>
      )}
    </section>
  );
}
