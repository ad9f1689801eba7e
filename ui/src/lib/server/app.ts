/**
 * The server's single instance of settings, database and queue.
 *
 * Next.js may load this module in several bundles (instrumentation, each route), so the
 * instance lives on globalThis: there must be exactly one queue per server process, or
 * two jobs could run at once.
 */
import { JobStore, openDatabase } from "@/lib/server/db";
import { Runner } from "@/lib/server/runner";
import { Settings, settings } from "@/lib/server/settings";

export interface App {
  settings: Settings;
  store: JobStore;
  runner: Runner;
}

const KEY = Symbol.for("ltx2-trainer-ui.app");
type Holder = { [KEY]?: App };

export function getApp(): App {
  const holder = globalThis as Holder;
  if (!holder[KEY]) {
    const s = settings();
    const store = new JobStore(openDatabase(s.dbPath));
    const runner = new Runner(store, s);
    holder[KEY] = { settings: s, store, runner };
    runner.recover();
    runner.tick();
    // A safety net: the queue is also advanced on every exit and every enqueue.
    setInterval(() => runner.tick(), 2000).unref();
  }
  return holder[KEY]!;
}
