"use client";
/**
 * Samples as a grid: rows are the config's prompts (with their text), columns the steps
 * (newest first). Clicking a cell plays it, with sound, in the viewer above the grid.
 */
import { useState } from "react";
import { buildGrid, SampleRef } from "@/lib/samplesGrid";

export function sampleUrl(jobId: number, file: string, download = false) {
  return `/api/jobs/${jobId}/files/${file.split("/").map(encodeURIComponent).join("/")}${download ? "?download=1" : ""}`;
}

export function SamplesGrid({ jobId, samples, prompts, sampling }: {
  jobId: number; samples: SampleRef[]; prompts: string[]; sampling: boolean;
}) {
  const [open, setOpen] = useState<SampleRef | null>(null);
  const grid = buildGrid(samples, prompts, sampling);
  if (grid.steps.length === 0) return <p className="muted">No samples yet.</p>;
  return (
    <div data-testid="samples">
      {open && (
        <div className="sample-viewer" data-testid="sample-viewer">
          {open.kind === "video" && <video key={open.file} controls autoPlay src={sampleUrl(jobId, open.file)} data-viewer={open.file} />}
          {open.kind === "audio" && <audio key={open.file} controls autoPlay src={sampleUrl(jobId, open.file)} data-viewer={open.file} />}
          {open.kind === "image" && <img alt={`sample ${open.index} at step ${open.step}`} src={sampleUrl(jobId, open.file)} />}
          <div className="sample-viewer-text">
            <strong>Step {open.step}</strong> · prompt {open.index + 1}
            <p>{prompts[open.index] ?? ""}</p>
            <a href={sampleUrl(jobId, open.file, true)}>download</a>{" "}
            <button type="button" className="small" onClick={() => setOpen(null)}>Close</button>
          </div>
        </div>
      )}
      <div className="samples-grid-wrap">
        <table className="samples-grid">
          <thead>
            <tr><th>Prompt</th>{grid.steps.map((s) => <th key={s}>{s < 0 ? "next" : `step ${s}`}</th>)}</tr>
          </thead>
          <tbody>
            {grid.rows.map((row) => (
              <tr key={row.index} data-prompt-row={row.index}>
                <th className="prompt-text" title={row.prompt}>{row.index + 1}. {row.prompt || <span className="muted">(no prompt text)</span>}</th>
                {row.cells.map((cell, i) => (
                  <td key={grid.steps[i]}>
                    {cell.state === "file" ? (
                      <button type="button" className="sample-cell" aria-label={`play step ${cell.sample.step} prompt ${row.index + 1}`}
                        onClick={() => setOpen(cell.sample)}>
                        {cell.sample.kind === "video" && <video preload="metadata" muted src={`${sampleUrl(jobId, cell.sample.file)}#t=0.1`} data-sample={cell.sample.file} />}
                        {cell.sample.kind === "image" && <img alt="" src={sampleUrl(jobId, cell.sample.file)} />}
                        {cell.sample.kind === "audio" && <span>♪ audio</span>}
                      </button>
                    ) : cell.state === "pending" ? (
                      <div className="sample-placeholder" data-testid="sample-pending">rendering…</div>
                    ) : (
                      <div className="sample-placeholder missing">—</div>
                    )}
                  </td>
                ))}
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </div>
  );
}
