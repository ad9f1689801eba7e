"use client";
/**
 * The LoRA files view of one job (/jobs/<id>/loras): every LoRA file of its output folder,
 * what `lora_tools inspect` says of the chosen one (version, naming, network type, ranks and
 * alphas per module family, layers per stream, what ComfyUI and diffusers load, training
 * metadata), and buttons for strip-audio and split, whose files are written next to it.
 */
import { useCallback, useEffect, useState } from "react";
import Link from "next/link";
import { apiFetch, formatBytes } from "@/lib/client";

interface Entry { file: string; size: number; modified: number; kind: "final" | "checkpoint" | "derived"; step: number | null }
interface Listing { job: { id: number; name: string; state: string }; files: Entry[] }

interface Family { family: string; label: string; writes: string[]; layers: number; kinds: string[]; ranks: string; alphas: string; scale: string }
interface Facts {
  version: { text: string; reason: string };
  naming_label: string;
  producer: string;
  network: string;
  layers: number;
  families: Family[];
  streams: { video: number; audio: number; both: number };
  strip_audio: { removes: number; keeps: number; removed_families: string };
  split: { possible: boolean; reason: string };
  comfyui: { applied: number; missed: string[]; not_loaded: string[]; text_encoder_part: boolean };
  diffusers: { refused: string; loaded: number; not_loaded: Record<string, string> };
  unknown_keys: string[];
  metadata: Record<string, string>;
}

type Message = { kind: "ok" | "error"; text: string } | null;

const KIND_LABEL = { final: "final", checkpoint: "checkpoint", derived: "made from a LoRA" };

function describeResult(tool: string, result: Record<string, unknown>): string {
  const name = (p: unknown) => String(p).split("/").pop();
  if (tool === "split") {
    return `Wrote ${name(result.video)} (${result.video_layers} layers) and ${name(result.audio)} ` +
      `(${result.audio_layers} layers): together at strength 1 they are the original.`;
  }
  return `Wrote ${name(result.output)}: removed ${result.removed} layers that write audio (${result.removed_families}), kept ${result.kept}.`;
}

function FactsPanel({ facts }: { facts: Facts }) {
  const comfy = facts.comfyui;
  const notLoaded = Object.entries(facts.diffusers.not_loaded);
  return (
    <div data-testid="lora-facts">
      <div className="stats"><dl style={{ margin: "0 0 12px" }}>
        <div><dt>LTX-2</dt><dd data-testid="lora-version">{facts.version.text} <span className="muted">({facts.version.reason})</span></dd></div>
        <div><dt>Naming</dt><dd>{facts.naming_label}</dd></div>
        <div><dt>Written by</dt><dd>{facts.producer}</dd></div>
        <div><dt>Network</dt><dd data-testid="lora-network">{facts.network}, {facts.layers} layers</dd></div>
        <div><dt>Streams</dt><dd>video {facts.streams.video} layers, audio {facts.streams.audio}, both {facts.streams.both}</dd></div>
      </dl></div>
      <table className="table" data-testid="lora-families">
        <thead><tr><th>Module family</th><th>Layers</th><th>Type</th><th>Rank</th><th>Alpha</th><th>Scale</th><th>Writes</th></tr></thead>
        <tbody>
          {facts.families.map((f) => (
            <tr key={f.family} title={f.label}>
              <td><code>{f.family}</code> <span className="muted">{f.label}</span></td>
              <td>{f.layers}</td><td>{f.kinds.join("/")}</td><td>{f.ranks}</td><td>{f.alphas}</td><td>{f.scale}</td>
              <td>{f.writes.join(" + ")}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <ul className="lora-notes" style={{ margin: "12px 0" }}>
        <li>Strip audio: {facts.strip_audio.removes ? `removes ${facts.strip_audio.removes} layers (${facts.strip_audio.removed_families}), keeps ${facts.strip_audio.keeps}` : "nothing to remove"}</li>
        <li>Split: {facts.split.possible ? "possible" : facts.split.reason}</li>
        <li>ComfyUI: applies {comfy.applied} of {facts.layers} layers
          {comfy.missed.length > 0 && `; leaves out ${comfy.missed.length} (e.g. ${comfy.missed[0]})`}
          {comfy.not_loaded.length > 0 && `; logs "lora key not loaded" for ${comfy.not_loaded.length} keys`}
          {comfy.text_encoder_part && "; its text_encoders.* part needs a LoRA loader that takes the CLIP"}</li>
        <li>diffusers: {facts.diffusers.refused || `loads ${facts.diffusers.loaded} tensors` +
          (notLoaded.length ? `; does not load ${notLoaded.length} keys (e.g. ${notLoaded[0][0]}: ${notLoaded[0][1]})` : "")}</li>
        {facts.unknown_keys.length > 0 && <li>{facts.unknown_keys.length} keys belong to no LTX-2 layer (e.g. {facts.unknown_keys[0]})</li>}
      </ul>
      {Object.keys(facts.metadata).length > 0 && (
        <details>
          <summary>Training metadata ({Object.keys(facts.metadata).length} entries)</summary>
          <table className="table">
            <tbody>
              {Object.entries(facts.metadata).sort().map(([k, v]) => (
                <tr key={k}><td><code>{k}</code></td><td style={{ wordBreak: "break-all" }}>{v.length > 300 ? `${v.slice(0, 300)}…` : v}</td></tr>
              ))}
            </tbody>
          </table>
        </details>
      )}
    </div>
  );
}

export function LoraFilesView({ id }: { id: number }) {
  const [listing, setListing] = useState<Listing | null>(null);
  const [selected, setSelected] = useState<string | null>(null);
  const [facts, setFacts] = useState<Facts | null>(null);
  const [busy, setBusy] = useState<string | null>(null);
  const [message, setMessage] = useState<Message>(null);
  const [sharedTo, setSharedTo] = useState("");

  const load = useCallback(async () => {
    try {
      setListing(await apiFetch<Listing>(`/api/jobs/${id}/loras`));
    } catch (err) {
      setMessage({ kind: "error", text: (err as Error).message });
    }
  }, [id]);

  useEffect(() => { load(); }, [load]);

  const inspect = async (file: string) => {
    setSelected(file);
    setFacts(null);
    setMessage(null);
    setSharedTo("");
    setBusy("inspect");
    try {
      const body = await apiFetch<{ facts?: Facts; error?: string }>(`/api/jobs/${id}/loras/inspect?file=${encodeURIComponent(file)}`);
      if (body.facts) setFacts(body.facts);
      else setMessage({ kind: "error", text: body.error ?? "inspect failed" });
    } catch (err) {
      setMessage({ kind: "error", text: (err as Error).message });
    } finally {
      setBusy(null);
    }
  };

  const run = async (tool: "strip-audio" | "split") => {
    if (!selected) return;
    setBusy(tool);
    setMessage(null);
    try {
      const body = await apiFetch<{ result?: Record<string, unknown>; error?: string }>(`/api/jobs/${id}/loras/tool`, {
        method: "POST", body: JSON.stringify({ file: selected, tool, sharedTo: sharedTo || undefined }),
      });
      if (body.result) setMessage({ kind: "ok", text: describeResult(tool, body.result) });
      else setMessage({ kind: "error", text: body.error ?? `${tool} failed` });
      await load();
    } catch (err) {
      setMessage({ kind: "error", text: (err as Error).message });
    } finally {
      setBusy(null);
    }
  };

  if (!listing) return message ? <p className="error-box">{message.text}</p> : <p>Loading…</p>;
  const sharedLayers = facts !== null && !facts.split.possible && facts.streams.both > 0 && facts.streams.audio > 0;
  return (
    <div className="lora-files-view">
      <h1>LoRA files of {listing.job.name}</h1>
      <p className="card-intro">
        Inspect a LoRA file, take its audio layers out, or split it into a video file and an audio file that you can load
        at different strengths (both at 1 give the original). New files are written next to the original; nothing is
        overwritten. The same tools for any LTX-2 LoRA: <code>python -m toolkit.lora_tools</code>.
      </p>
      {listing.files.length === 0 ? <p className="muted">No LoRA files yet.</p> : (
        <table className="table" data-testid="lora-files">
          <thead><tr><th>File</th><th>Kind</th><th>Size</th><th></th></tr></thead>
          <tbody>
            {listing.files.map((f) => (
              <tr key={f.file} data-file={f.file} style={f.file === selected ? { outline: "1px solid var(--accent)" } : undefined}>
                <td><code>{f.file}</code></td>
                <td>{f.kind === "checkpoint" ? `step ${f.step}` : KIND_LABEL[f.kind]}</td>
                <td>{formatBytes(f.size)}</td>
                <td><button className="small" disabled={busy !== null} onClick={() => inspect(f.file)}>Inspect</button></td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {message && <p className={message.kind === "ok" ? "ok-box" : "error-box"} data-testid="lora-message">{message.text}</p>}
      {selected && (
        <section className="card" data-testid="lora-selected">
          <h2><code>{selected}</code></h2>
          {busy === "inspect" && <p className="muted">Reading the file…</p>}
          {facts && <FactsPanel facts={facts} />}
          {facts && (
            <div className="lora-actions" style={{ display: "flex", gap: 12, alignItems: "center", flexWrap: "wrap" }}>
              <button disabled={busy !== null || facts.strip_audio.removes === 0} onClick={() => run("strip-audio")}>
                Strip audio
              </button>
              {sharedLayers && (
                <label>Layers writing both streams go to{" "}
                  <select value={sharedTo} onChange={(e) => setSharedTo(e.target.value)} aria-label="Layers writing both streams go to">
                    <option value="">(choose)</option><option value="video">the video file</option><option value="audio">the audio file</option>
                  </select>
                </label>
              )}
              <button disabled={busy !== null || (!facts.split.possible && !(sharedLayers && sharedTo))} onClick={() => run("split")}>
                Split video / audio
              </button>
              {busy && busy !== "inspect" && <span className="muted">Working…</span>}
            </div>
          )}
        </section>
      )}
      <p><Link href={`/jobs/${id}`}>← back to the job</Link></p>
    </div>
  );
}
