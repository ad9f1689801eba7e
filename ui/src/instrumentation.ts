/**
 * Runs once when the server starts: open the database, settle or adopt jobs left
 * "running" by a previous server, and start the queue, before the first request.
 */
export async function register() {
  if (process.env.NEXT_RUNTIME !== "nodejs") return;
  const { getApp } = await import("@/lib/server/app");
  const { settings: s } = getApp();
  console.log(`[ltx2-ui] jobs db ${s.dbPath}; outputs ${s.outputRoot}; datasets ${s.datasetsRoot}; auth ${s.authToken ? "on" : "off"}`);
}
