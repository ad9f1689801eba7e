"use client";
/** The delete confirmation: names the job, and offers to remove its output folder too. */
import { useState } from "react";

export function ConfirmDelete({ name, folder, onCancel, onConfirm }: {
  name: string; folder: string; onCancel: () => void; onConfirm: (files: boolean) => void;
}) {
  const [files, setFiles] = useState(false);
  return (
    <div className="modal-backdrop" role="presentation">
      <div className="modal" role="dialog" aria-modal="true" aria-labelledby="confirm-title">
        <h2 id="confirm-title">Delete job {name}?</h2>
        <p>The job leaves the list. This cannot be undone.</p>
        <label className="checkbox-line">
          <input type="checkbox" checked={files} onChange={(e) => setFiles(e.target.checked)} />
          <span>also delete its output folder <code>{folder}</code> (LoRA files, samples, logs)</span>
        </label>
        <div className="actions">
          <button type="button" onClick={onCancel}>Cancel</button>
          <button type="button" className="danger" onClick={() => onConfirm(files)}>Delete</button>
        </div>
      </div>
    </div>
  );
}
