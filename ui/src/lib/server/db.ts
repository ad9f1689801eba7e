/**
 * The jobs database: one real SQLite file (better-sqlite3, synchronous).
 *
 * Synchronous calls are fine here: every query touches one small table, and it keeps
 * the queue's state changes atomic without a lock of our own.
 */
import Database from "better-sqlite3";
import fs from "node:fs";
import path from "node:path";

export type JobState = "created" | "queued" | "running" | "stopping" | "stopped" | "completed" | "error";

export const ACTIVE_STATES: readonly JobState[] = ["queued", "running", "stopping"];

export interface JobRow {
  id: number;
  name: string;
  config_yaml: string;
  state: JobState;
  pid: number | null;
  exit_code: number | null;
  error: string | null;
  stop_requested: number;
  created_at: string;
  updated_at: string;
  queued_at: string | null;
  started_at: string | null;
  finished_at: string | null;
}

const MIGRATIONS = [
  `CREATE TABLE IF NOT EXISTS jobs (
     id INTEGER PRIMARY KEY AUTOINCREMENT,
     name TEXT NOT NULL UNIQUE,
     config_yaml TEXT NOT NULL,
     state TEXT NOT NULL DEFAULT 'created',
     pid INTEGER,
     exit_code INTEGER,
     error TEXT,
     stop_requested INTEGER NOT NULL DEFAULT 0,
     created_at TEXT NOT NULL,
     updated_at TEXT NOT NULL,
     queued_at TEXT,
     started_at TEXT,
     finished_at TEXT
   )`,
  `CREATE INDEX IF NOT EXISTS jobs_state ON jobs(state, queued_at)`,
];

export function openDatabase(file: string): Database.Database {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const db = new Database(file);
  db.pragma("journal_mode = WAL");
  db.pragma("busy_timeout = 5000");
  const version = db.pragma("user_version", { simple: true }) as number;
  db.transaction(() => {
    for (let i = version; i < MIGRATIONS.length; i++) db.exec(MIGRATIONS[i]);
    db.pragma(`user_version = ${MIGRATIONS.length}`);
  })();
  return db;
}

const now = () => new Date().toISOString();

/** Typed queries on the jobs table. */
export class JobStore {
  constructor(readonly db: Database.Database) {}

  list(): JobRow[] {
    return this.db.prepare("SELECT * FROM jobs ORDER BY id DESC").all() as JobRow[];
  }

  get(id: number): JobRow | undefined {
    return this.db.prepare("SELECT * FROM jobs WHERE id = ?").get(id) as JobRow | undefined;
  }

  byName(name: string): JobRow | undefined {
    return this.db.prepare("SELECT * FROM jobs WHERE name = ?").get(name) as JobRow | undefined;
  }

  insert(name: string, configYaml: string): JobRow {
    const t = now();
    const info = this.db
      .prepare("INSERT INTO jobs (name, config_yaml, state, created_at, updated_at) VALUES (?, ?, 'created', ?, ?)")
      .run(name, configYaml, t, t);
    return this.get(Number(info.lastInsertRowid))!;
  }

  /** Update the given columns of one job; `updated_at` is set too. */
  update(id: number, fields: Partial<Omit<JobRow, "id" | "created_at" | "updated_at">>): JobRow {
    const keys = Object.keys(fields) as (keyof typeof fields)[];
    const allowed = new Set([
      "name", "config_yaml", "state", "pid", "exit_code", "error", "stop_requested",
      "queued_at", "started_at", "finished_at",
    ]);
    for (const key of keys) if (!allowed.has(key)) throw new Error(`not a job column: ${key}`);
    const sets = keys.map((k) => `${k} = @${k}`).concat("updated_at = @updated_at");
    this.db.prepare(`UPDATE jobs SET ${sets.join(", ")} WHERE id = @id`).run({ ...fields, updated_at: now(), id });
    const row = this.get(id);
    if (!row) throw new Error(`job ${id} vanished during an update`);
    return row;
  }

  delete(id: number): void {
    this.db.prepare("DELETE FROM jobs WHERE id = ?").run(id);
  }

  inStates(states: readonly JobState[]): JobRow[] {
    const marks = states.map(() => "?").join(", ");
    return this.db
      .prepare(`SELECT * FROM jobs WHERE state IN (${marks}) ORDER BY queued_at, id`)
      .all(...states) as JobRow[];
  }

  /** The oldest queued job, or undefined. */
  nextQueued(): JobRow | undefined {
    return this.db
      .prepare("SELECT * FROM jobs WHERE state = 'queued' ORDER BY queued_at, id LIMIT 1")
      .get() as JobRow | undefined;
  }

  /** Move a job into a state only if it is currently in one of `from` (atomic). */
  transition(id: number, from: readonly JobState[], fields: Partial<JobRow> & { state: JobState }): JobRow | null {
    return this.db.transaction(() => {
      const row = this.get(id);
      if (!row || !from.includes(row.state)) return null;
      return this.update(id, fields);
    })();
  }

  static now = now;
}
