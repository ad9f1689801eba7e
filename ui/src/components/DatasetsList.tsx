"use client";
/** The dataset folders with their clip and image counts, and a form to create one. */
import { useCallback, useEffect, useState } from "react";
import Link from "next/link";
import { useRouter } from "next/navigation";
import { apiFetch } from "@/lib/client";

interface Folder { label: string; path: string; clips: number; images: number }

export function DatasetsList() {
  const router = useRouter();
  const [folders, setFolders] = useState<Folder[] | null>(null);
  const [name, setName] = useState("");
  const [error, setError] = useState<string | null>(null);
  const load = useCallback(async () => {
    try {
      setFolders((await apiFetch<{ folders: Folder[] }>("/api/datasets")).folders);
    } catch (err) {
      setError((err as Error).message);
    }
  }, []);
  useEffect(() => { load(); }, [load]);
  return (
    <>
      <form className="card inline-form" onSubmit={async (e) => {
        e.preventDefault();
        setError(null);
        try {
          const res = await apiFetch<{ name: string }>("/api/datasets", { method: "POST", body: JSON.stringify({ name }) });
          router.push(`/datasets/${encodeURIComponent(res.name)}`);
        } catch (err) {
          setError((err as Error).message);
        }
      }}>
        <label htmlFor="new-dataset">New dataset</label>
        <input id="new-dataset" type="text" placeholder="my_character" value={name} onChange={(e) => setName(e.target.value)} />
        <button type="submit" className="primary" disabled={!name.trim()}>Create</button>
      </form>
      {error && <p className="error-box" role="alert">{error}</p>}
      {folders && folders.length === 0 && <p className="muted">No dataset folders yet.</p>}
      {folders && folders.length > 0 && (
        <table className="table" data-testid="datasets-table">
          <thead><tr><th>Folder</th><th>Clips</th><th>Images</th><th>Path in a config</th></tr></thead>
          <tbody>
            {folders.map((f) => (
              <tr key={f.label}>
                <td><Link href={`/datasets/${f.label.split("/").map(encodeURIComponent).join("/")}`}>{f.label}</Link></td>
                <td>{f.clips}</td>
                <td>{f.images}</td>
                <td><code>{f.path}</code></td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </>
  );
}
