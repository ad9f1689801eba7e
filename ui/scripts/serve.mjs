#!/usr/bin/env node
/**
 * Start the built UI: `node scripts/serve.mjs [--host H] [--port P]` (defaults
 * 127.0.0.1:8675, or LTX2_UI_HOST / LTX2_UI_PORT). Refuses a non-loopback host without
 * AI_TOOLKIT_AUTH, then runs `next start` (no shell) and forwards signals to it.
 */
import { spawn } from "node:child_process";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { bindProblem } from "./bindCheck.mjs";

const uiRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

function option(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  if (i !== -1 && process.argv[i + 1]) return process.argv[i + 1];
  return fallback;
}

const host = option("host", process.env.LTX2_UI_HOST || "127.0.0.1");
const port = option("port", process.env.LTX2_UI_PORT || "8675");
if (!/^\d{1,5}$/.test(port)) {
  console.error(`error: bad port ${JSON.stringify(port)}`);
  process.exit(2);
}
const problem = bindProblem(host, process.env.AI_TOOLKIT_AUTH);
if (problem) {
  console.error(`error: ${problem}`);
  process.exit(2);
}

const nextBin = createRequire(import.meta.url).resolve("next/dist/bin/next");
const child = spawn(process.execPath, [nextBin, "start", "-H", host, "-p", port], {
  cwd: uiRoot,
  stdio: "inherit",
  // The server checks every request's Host against these (DNS rebinding).
  env: { ...process.env, NEXT_TELEMETRY_DISABLED: "1", LTX2_UI_HOST: host, LTX2_UI_PORT: port },
});
for (const sig of ["SIGINT", "SIGTERM"]) process.on(sig, () => child.kill(sig));
child.on("exit", (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
