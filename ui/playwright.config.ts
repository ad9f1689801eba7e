/**
 * End-to-end tests: the built app (`next start` through scripts/serve.mjs) with auth on,
 * a fresh SQLite file and output folder per run, the real trainer on the tiny model, and
 * Debian's Chromium (never a downloaded browser).
 */
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { defineConfig } from "@playwright/test";

import { E2E_TOKEN, NOAUTH_PORT, PORT } from "./tests/e2e/env";

// One work folder per run. Workers re-read this file, so the folder is chosen once and
// passed down in the environment.
if (!process.env.LTX2_E2E_WORK) {
  // First evaluation (the runner itself): drop the previous runs' jobs and outputs.
  fs.rmSync(path.join(__dirname, "test-results", "e2e"), { recursive: true, force: true });
  process.env.LTX2_E2E_WORK = path.join(__dirname, "test-results", "e2e", `run-${Date.now()}`);
  fs.mkdirSync(process.env.LTX2_E2E_WORK, { recursive: true });
  // A datasets root of its own (the Datasets page writes into it), holding a copy of the
  // synthetic clips with speech.
  fs.cpSync(path.join(__dirname, "..", "data", "synthetic"), path.join(process.env.LTX2_E2E_WORK, "datasets", "synthetic"), {
    recursive: true, dereference: true, filter: (src) => !path.basename(src).startsWith("."),
  });
  // Footage for "Prepare from footage": the first two shots of toolkit/dev/footage.py's script
  // (23 s, two espeak-ng voices taking turns, a cut, pauses; six windows with speech). The tone
  // bed, several voices in one window and quiet pauses are the Python tests' (tests/test_prepare.py).
  // Without espeak-ng the prepare test is skipped.
  const footage = path.join(process.env.LTX2_E2E_WORK, "datasets", "footage", "episode.mp4");
  fs.mkdirSync(path.dirname(footage), { recursive: true });
  const python = process.env.LTX2_PYTHON ?? path.join(__dirname, "..", ".venv", "bin", "python");
  const made = spawnSync(python, ["-m", "toolkit.dev.footage", footage, "--shots", "2"], { cwd: path.join(__dirname, ".."), encoding: "utf8" });
  if (made.status !== 0) fs.writeFileSync(path.join(process.env.LTX2_E2E_WORK, "no-footage.txt"), made.stderr ?? "");
}
const WORK = process.env.LTX2_E2E_WORK;

const server = (port: number, env: Record<string, string>) => ({
  command: `node scripts/serve.mjs --host 127.0.0.1 --port ${port}`,
  url: `http://127.0.0.1:${port}/login`,
  reuseExistingServer: false,
  timeout: 60_000,
  stdout: "pipe" as const,
  stderr: "pipe" as const,
  env: {
    LTX2_DATASETS_ROOT: path.join(WORK, "datasets"),
    NEXT_TELEMETRY_DISABLED: "1",
    // The trainers these servers start (the tiny model) get one thread, as the Python tests
    // do (tests/conftest.py): its ops are too small to gain from a second one, and on a busy
    // 2-core machine OpenMP's spin-waiting made a step ~20x slower (10 s instead of 0.4 s).
    OMP_NUM_THREADS: "1",
    ...env,
  },
});

export default defineConfig({
  testDir: "tests/e2e",
  outputDir: "test-results/artifacts",
  fullyParallel: false,
  workers: 1,
  retries: 0,
  // Training on a CPU shared with other work: generous limits, states are polled.
  timeout: 300_000,
  expect: { timeout: 30_000 },
  reporter: [["list"]],
  use: {
    baseURL: `http://127.0.0.1:${PORT}`,
    browserName: "chromium",
    headless: true,
    viewport: { width: 1280, height: 900 },
    screenshot: "only-on-failure",
    launchOptions: {
      executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
      args: [
        "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--autoplay-policy=no-user-gesture-required",
      ],
    },
  },
  // The main server runs with a token; a second one without (the loopback default) is only
  // attacked by the cross-site tests.
  webServer: [
    server(PORT, {
      AI_TOOLKIT_AUTH: E2E_TOKEN,
      LTX2_UI_DB: path.join(WORK, "jobs.db"),
      LTX2_UI_OUTPUT_ROOT: path.join(WORK, "output"),
    }),
    server(NOAUTH_PORT, {
      AI_TOOLKIT_AUTH: "",
      LTX2_UI_DB: path.join(WORK, "noauth", "jobs.db"),
      LTX2_UI_OUTPUT_ROOT: path.join(WORK, "noauth", "output"),
    }),
  ],
});
