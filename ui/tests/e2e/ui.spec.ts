/**
 * The UI as a user meets it, in Debian's Chromium against the built server:
 * refused without the token; the dataset check says which clips have speech; a job made
 * with the form from the tiny demo preset (tiny model, synthetic dataset) is validated at
 * its fields as it is typed, trains to the end, shows its loss chart (smoothing, trend,
 * zoom, remembered settings), its voice chart says why it is flat, it plays its sample with
 * sound, gives all samples as a ZIP, shows the config that ran and lets older checkpoints
 * go; a draft copy trained on tones is stopped (never "stopping" beside "trainer:
 * stopped"), resumed and deleted, and its tone dataset deleted.
 * Every page is saved as a screenshot under test-results/screenshots/.
 */
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { expect, Page, request, test } from "@playwright/test";
import { DATASETS, E2E_TOKEN, SCREENSHOTS } from "./env";

const REPO = path.resolve(__dirname, "..", "..", "..");
const SYNTHETIC = path.join(REPO, "data", "synthetic");

test.describe.configure({ mode: "serial" });

fs.mkdirSync(SCREENSHOTS, { recursive: true });
async function shot(page: Page, name: string) {
  // From the top: a full-page capture of a scrolled page shows the sticky bar mid-page.
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.screenshot({ path: path.join(SCREENSHOTS, `${name}.png`), fullPage: true });
}

const P = "config.process[0]";
const control = (page: Page, fieldPath: string) =>
  page.locator(`[data-field="${fieldPath}"]`).locator("input, select, textarea").first();

async function setField(page: Page, fieldPath: string, value: string) {
  const el = control(page, fieldPath);
  await el.scrollIntoViewIfNeeded();
  const tag = await el.evaluate((e) => e.tagName.toLowerCase() + ":" + ((e as HTMLInputElement).type ?? ""));
  if (tag.startsWith("select")) await el.selectOption(value);
  else if (tag === "input:checkbox") await el.setChecked(value === "true");
  else await el.fill(value);
}

async function login(page: Page) {
  await page.goto("/login");
  await page.getByLabel("Access token").fill(E2E_TOKEN);
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page.getByRole("heading", { name: "Jobs" })).toBeVisible();
}

async function waitForState(page: Page, state: string, timeout = 240_000) {
  await expect(page.getByTestId("job-state")).toHaveText(state, { timeout });
}

/** A 2 s clip whose sound is a 330 Hz tone: audio, but no speech (ffmpeg's test sources). */
function toneClip(file: string) {
  execFileSync("ffmpeg", ["-nostdin", "-y", "-v", "error", "-f", "lavfi", "-i", "color=c=gray:size=64x64:rate=24",
    "-f", "lavfi", "-i", "sine=frequency=330:sample_rate=44100", "-t", "2", "-c:v", "libx264", "-pix_fmt", "yuv420p",
    "-c:a", "aac", file], { timeout: 60_000 });
  fs.writeFileSync(file.replace(/\.mp4$/, ".txt"), "a grey square, a tone plays\n");
}

let jobUrl = "";

test("is refused without the token", async ({ page, baseURL }) => {
  const anon = await request.newContext({ baseURL });
  expect((await anon.get("/api/jobs")).status()).toBe(401);
  expect((await anon.post("/api/jobs", { data: { config: {} } })).status()).toBe(401);
  expect((await anon.get("/api/jobs/1/files/samples/000000000_00.mp4")).status()).toBe(401);
  expect((await anon.get("/api/datasets/files/synthetic/clip_000.mp4")).status()).toBe(401);
  expect((await anon.post("/api/datasets/upload/synthetic?name=x.mp4", { headers: { "Content-Type": "application/octet-stream" }, data: Buffer.from("x") })).status()).toBe(401);
  expect((await anon.get("/api/jobs", { headers: { Authorization: "Bearer wrong" } })).status()).toBe(401);
  expect((await anon.get("/api/jobs", { headers: { Authorization: `Bearer ${E2E_TOKEN}` } })).status()).toBe(200);
  const page1 = await anon.get("/jobs/new", { maxRedirects: 0 });
  expect(page1.status()).toBe(307);
  expect(page1.headers()["location"]).toContain("/login");
  await anon.dispose();

  await page.goto("/");
  await expect(page).toHaveURL(/\/login\?next=%2F$/);
  await page.getByLabel("Access token").fill("not-the-token");
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page.locator(".login .field-error")).toHaveText("Wrong token.");
  await shot(page, "01-login");

  // After signing in, `next` may only lead back into this site (`/\host` is `//host` to a browser).
  await page.goto("/login?next=%2F%5Cexample.org%2Fx");
  await page.getByLabel("Access token").fill(E2E_TOKEN);
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page.getByRole("heading", { name: "Jobs" })).toBeVisible();
  expect(new URL(page.url()).origin).toBe(new URL(baseURL!).origin);
});

test("creates a job from the form, trains it, charts it and plays its sample", async ({ page }) => {
  // Three dataset checks, a training run and the job page's tools: more than the default
  // limit on a machine shared with other work (all waits are polls, none is a sleep).
  test.setTimeout(600_000);
  await login(page);
  await expect(page.getByTestId("machine-ram")).toContainText("GiB");
  await shot(page, "02-jobs-empty");

  // Datasets page: a new dataset gets a clip with speech and its caption, uploaded from
  // the file picker (the same handler as a drop); the caption is edited in place.
  await page.getByRole("link", { name: "Datasets" }).click();
  await page.getByLabel("New dataset").fill("e2e voice");
  await page.getByRole("button", { name: "Create" }).click();
  await expect(page).toHaveURL(/\/datasets\/e2e_voice$/);
  await page.getByTestId("upload-input").setInputFiles([path.join(SYNTHETIC, "clip_000.mp4"), path.join(SYNTHETIC, "clip_000.txt")]);
  const card = page.locator('[data-file="clip_000.mp4"]');
  await expect(card.getByTestId("audio-badge")).toHaveText("audio");
  await expect(card.getByTestId("duration")).toHaveText("2.0 s");
  await expect.poll(() => card.locator("img").evaluate((img: HTMLImageElement) => img.complete ? img.naturalWidth : 0)).toBe(64);
  // A file larger than the 10 MiB a Next.js proxy would buffer (and cut) arrives whole.
  const big = Buffer.alloc(12 * 1024 * 1024, 7);
  const sent = await page.request.post("/api/datasets/upload/e2e_voice?name=big.mp4", {
    headers: { "Content-Type": "application/octet-stream", Origin: new URL(page.url()).origin }, data: big,
  });
  expect(sent.status(), await sent.text()).toBe(201);
  expect(fs.statSync(path.join(DATASETS, "e2e_voice", "big.mp4")).size).toBe(big.length);
  expect((await page.request.delete("/api/datasets/files/e2e_voice/big.mp4", { headers: { "Content-Type": "application/json" } })).status()).toBe(200);

  // Drag and drop: an image dropped on the page is uploaded too; then deleted after confirming.
  const png = fs.readFileSync(path.join(SYNTHETIC, "image_000.png")).toString("base64");
  const dropped = await page.evaluateHandle((b64) => {
    const data = new DataTransfer();
    data.items.add(new File([Uint8Array.from(atob(b64), (c) => c.charCodeAt(0))], "still frame.png", { type: "image/png" }));
    return data;
  }, png);
  await page.getByTestId("dropzone").dispatchEvent("drop", { dataTransfer: dropped });
  const still = page.locator('[data-file="still_frame.png"]');
  await expect(still).toBeVisible();
  expect(fs.existsSync(path.join(DATASETS, "e2e_voice", "still_frame.png"))).toBe(true);
  await still.getByRole("button", { name: "Delete" }).click();
  await expect(page.getByRole("dialog")).toContainText("Delete still_frame.png?");
  await page.getByRole("dialog").getByRole("button", { name: "Delete" }).click();
  await expect(still).toHaveCount(0);
  expect(fs.existsSync(path.join(DATASETS, "e2e_voice", "still_frame.png"))).toBe(false);

  const caption = card.getByLabel("caption of clip_000.mp4");
  await expect(caption).toHaveValue(fs.readFileSync(path.join(SYNTHETIC, "clip_000.txt"), "utf8"));
  await caption.fill("[trigger] looks at the camera and says hello in a warm voice");
  await card.getByRole("button", { name: "Save caption" }).click();
  await expect(card.getByTestId("caption-saved")).toBeVisible();
  expect(fs.readFileSync(path.join(DATASETS, "e2e_voice", "clip_000.txt"), "utf8")).toBe("[trigger] looks at the camera and says hello in a warm voice\n");
  // The trainer's check: 81 frames do not fit in the 2 s clip, and the page says so on its card.
  await page.getByLabel("check num_frames").fill("81");
  await page.getByRole("button", { name: "Check dataset" }).click();
  await expect(card.getByTestId("file-problem")).toContainText("too short", { timeout: 120_000 });
  await expect(page.getByTestId("check-summary")).toContainText("1 problem");
  await shot(page, "02b-dataset-check");
  await page.getByLabel("check num_frames").fill("17");
  await page.getByRole("button", { name: "Check dataset" }).click();
  await expect(page.getByTestId("check-summary")).toContainText("dataset check: ok", { timeout: 120_000 });
  await expect(card.getByTestId("file-problem")).toHaveCount(0);
  // Voice means speech: the clip says a word, so some of its windows have speech.
  await expect(page.getByTestId("check-voice")).toContainText(/\d+ of \d+ windows have speech/);

  // A dataset of tones: audio that trains, but no voice; the check says so on the page and on the card.
  const tone = path.join(DATASETS, "..", "tone.mp4");
  toneClip(tone);
  await page.getByRole("link", { name: "Datasets", exact: true }).click();
  await page.getByLabel("New dataset").fill("e2e tones");
  await page.getByRole("button", { name: "Create" }).click();
  await expect(page).toHaveURL(/\/datasets\/e2e_tones$/);
  await page.getByTestId("upload-input").setInputFiles([tone, tone.replace(/\.mp4$/, ".txt")]);
  const toneCard = page.locator('[data-file="tone.mp4"]');
  await expect(toneCard.getByTestId("audio-badge")).toHaveText("audio");
  await page.getByLabel("check num_frames").fill("17");
  await page.getByRole("button", { name: "Check dataset" }).click();
  await expect(page.getByTestId("check-summary")).toContainText("dataset check: ok", { timeout: 120_000 });
  await expect(page.getByTestId("check-voice")).toContainText("no speech in these clips: the run trains their audio");
  await expect(toneCard.getByTestId("file-note")).toContainText("no speech in its audio");
  await shot(page, "02c-dataset-check-no-speech");

  await page.getByRole("link", { name: "New job" }).first().click();
  await expect(page.getByRole("heading", { name: "New job" })).toBeVisible();
  // The SOP defaults, from the generated schema, all shown as placeholders: no field holds
  // a value that only repeats its default (no mix of written defaults and placeholders).
  for (const [key, def] of [["network.linear", "32"], ["network.rank_dropout", "0.1"], ["train.lr", "0.000075"]]) {
    await expect(control(page, `${P}.${key}`)).toHaveValue("");
    await expect(control(page, `${P}.${key}`)).toHaveAttribute("placeholder", def);
  }
  await expect(control(page, `${P}.train.independent_audio_timestep`)).toBeChecked();
  await page.locator("details.more").evaluateAll((ds) => ds.forEach((d) => ((d as HTMLDetailsElement).open = true)));
  const mixed = await page.locator(".simple-form input[type=text]").evaluateAll((inputs) =>
    (inputs as HTMLInputElement[]).filter((i) => i.value !== "" && i.value === i.placeholder).map((i) => i.id));
  expect(mixed).toEqual([]);
  await expect(page.locator(`select[id="${P}.network.type"]`)).toHaveCount(1);

  // Fields that do nothing now are disabled, with the reason; they come alive with their switch.
  const multiplier = page.locator(`[data-field="${P}.train.audio_loss_multiplier"]`);
  await expect(multiplier.locator("input")).toBeDisabled();
  await expect(multiplier.getByTestId("field-inactive")).toContainText("Auto-balance sets the audio multiplier");
  for (const key of ["strict_audio_min_supervised_ratio", "strict_audio_warmup_steps"]) {
    await expect(control(page, `${P}.train.${key}`)).toBeDisabled();
  }
  await setField(page, `${P}.train.auto_balance_audio_loss`, "false");
  await expect(multiplier.locator("input")).toBeEnabled();
  await expect(multiplier.getByTestId("field-inactive")).toHaveCount(0);
  await setField(page, `${P}.train.strict_audio_mode`, "true");
  await expect(control(page, `${P}.train.strict_audio_warmup_steps`)).toBeEnabled();
  await expect(page.locator(`[data-field="${P}.train.strict_audio_min_supervised_ratio"] [data-testid="field-inactive"]`)).toHaveCount(0);
  await shot(page, "03-new-job-form");

  // The tiny demo preset: the repository's demo config, with the synthetic clips of this datasets root.
  await page.getByTestId("preset-tiny-demo").click();
  await expect(page.getByTestId("form-message")).toContainText("Loaded the tiny demo");
  await expect(control(page, "config.name")).toHaveValue("ltx2_tiny_demo");
  await expect(control(page, `${P}.model.name_or_path`)).toHaveValue("models/tiny-ltx2");
  await expect(control(page, `${P}.train.steps`)).toHaveValue("120");
  await expect(control(page, `${P}.datasets[0].folder_path`)).toHaveValue(path.relative(REPO, path.join(DATASETS, "synthetic")));
  await expect(control(page, `${P}.train.strict_audio_mode`)).not.toBeChecked(); // the preset replaced the form

  // Kept short for CI: the demo on the uploaded clip, 12 steps (14 after the YAML edit below).
  await page.locator("details.more").evaluateAll((ds) => ds.forEach((d) => ((d as HTMLDetailsElement).open = true)));
  const values: [string, string][] = [
    ["config.name", "e2e_tiny"],
    [`${P}.datasets[0].folder_path`, path.relative(REPO, path.join(DATASETS, "e2e_voice"))],
    [`${P}.train.steps`, "12"],
    [`${P}.train.skip_first_sample`, "true"],
    [`${P}.save.save_every`, "6"],
    [`${P}.logging.log_every`, "2"],
    [`${P}.datasets[0].num_frames`, "10"], // wrong on purpose: must be 8k+1
  ];
  for (const [fieldPath, value] of values) await setField(page, fieldPath, value);

  // The dataset preview links are served from the datasets root, and only from there.
  const preview = (await page.locator(".preview-list a").first().getAttribute("href"))!;
  expect(preview).toMatch(/^\/api\/datasets\/files\/e2e_voice\//);
  expect((await page.request.get(preview)).status()).toBe(200);
  for (const bad of ["..%2F..%2FMakefile", "synthetic/..%2F..%2FMakefile", "%2Fetc%2Fpasswd"]) {
    expect([400, 403, 404], bad).toContain((await page.request.get(`/api/datasets/files/${bad}`)).status());
  }

  // The trainer's validator checks the config as it is typed (no button) and shows the problem at its field.
  const framesField = page.locator(`[data-field="${P}.datasets[0].num_frames"]`);
  await expect(framesField.locator(".field-error")).toContainText("8k+1", { timeout: 60_000 });
  await expect(page.getByTestId("live-validation")).toHaveAttribute("data-state", "problems");
  await shot(page, "04-validation-error");
  await setField(page, `${P}.datasets[0].num_frames`, "17");
  await expect(page.getByTestId("live-validation")).toHaveAttribute("data-state", "ok", { timeout: 60_000 });
  await expect(framesField.locator(".field-error")).toHaveCount(0);

  // Advanced view: the same config as YAML; an edit there comes back to the form.
  await page.getByRole("tab", { name: "Advanced (YAML)" }).click();
  const yaml = page.getByLabel("config YAML");
  await expect(yaml).toHaveValue(/name: e2e_tiny/);
  await expect(yaml).toHaveValue(/steps: 12/);
  // Validation data (validation_datasets, a list beside datasets): the job page charts its
  // loss per modality and names the best step and its file. The training folder stands in
  // for held-out data here (one clip, two windows: validation stays a few seconds).
  const heldOut = path.relative(REPO, path.join(DATASETS, "e2e_voice"));
  await yaml.fill((await yaml.inputValue()).replace("steps: 12", "steps: 14").replace(/^(\s*)datasets:/m, (line, indent) =>
    `${indent}validation_datasets:\n${indent}  - folder_path: ${heldOut}\n${indent}    num_frames: 17\n` +
    `${indent}    resolution: [64]\n${indent}    window_variants: 1\n${line}`));
  await shot(page, "05-advanced-yaml");
  await page.getByRole("tab", { name: "Simple" }).click();
  await expect(control(page, `${P}.train.steps`)).toHaveValue("14");

  await page.getByRole("button", { name: "Save & start" }).click();
  await expect(page).toHaveURL(/\/jobs\/\d+$/);
  jobUrl = page.url();
  await waitForState(page, "completed");
  await expect(page.getByTestId("job-step")).toHaveText("14 / 14");

  // The loss chart: every series drawn from metrics.jsonl.
  const chart = page.getByTestId("loss-chart");
  await expect(chart).toBeVisible();
  for (const key of ["loss", "video_loss", "audio_multiplier", "lr"]) {
    await expect(chart.locator(`path[data-series="${key}"]`)).toHaveAttribute("d", /^M[\d.]+,[\d.]+.*L[\d.]+,[\d.]+/);
  }
  // Audio losses exist only on steps whose batch had audio (a clip, not an image):
  // at least one point, maybe no segment.
  for (const key of ["audio_loss_raw", "audio_loss_scaled"]) {
    await expect(chart.locator(`path[data-series="${key}"]`)).toHaveAttribute("d", /^M[\d.]+,[\d.]+/);
  }

  // Validation at step 0 and at the last step: both lines, the best steps and the best-val file.
  const validation = page.getByTestId("validation-chart");
  for (const key of ["video", "audio"]) {
    await expect(validation.locator(`path[data-series="${key}"]`)).toHaveAttribute("d", /^M[\d.]+,[\d.]+L[\d.]+,[\d.]+/);
  }
  await expect(validation.locator("line[data-best='val_audio_loss']")).toHaveCount(1);
  await expect(page.getByTestId("best-steps").locator("[data-criterion='val_audio_loss']")).toContainText("e2e_tiny_best_val.safetensors");
  await expect(page.getByTestId("loras")).toContainText("best (validation)");

  // Smoothing (the raw values stay faint), a trend line, outlier clipping, drag to zoom and
  // reset; the settings are remembered by the browser, the zoom is not.
  await expect(chart.locator('line[data-trend="loss"]')).toHaveCount(1);
  await chart.getByLabel("smoothing").fill("0.9");
  await expect(page.getByTestId("smoothing-value")).toHaveText("0.90");
  await expect(chart.locator('path[data-raw="loss"]')).toHaveCount(1);
  await chart.getByLabel("clip outliers").check();
  const lossSvg = chart.locator('[data-panel="loss"] svg');
  const box = (await lossSvg.boundingBox())!;
  await page.mouse.move(box.x + box.width * 0.35, box.y + box.height / 2);
  await page.mouse.down();
  await page.mouse.move(box.x + box.width * 0.75, box.y + box.height / 2, { steps: 5 });
  await page.mouse.up();
  await expect(page.getByTestId("reset-zoom")).toContainText(/Reset zoom \(steps \d+–\d+\)/);
  await shot(page, "06a-loss-chart-zoomed");
  await page.getByTestId("reset-zoom").click();
  await expect(page.getByTestId("reset-zoom")).toHaveCount(0);
  await page.reload();
  await expect(page.getByTestId("smoothing-value")).toHaveText("0.90");
  await expect(page.getByTestId("loss-chart").getByLabel("clip outliers")).toBeChecked();
  await expect(page.getByTestId("reset-zoom")).toHaveCount(0);

  // The voice chart says why it is flat (the tiny model's samples are noise) and links to the dataset check.
  const why = page.getByTestId("voice-why");
  await expect(why).toHaveAttribute("data-reason", "no-sample-speech");
  await expect(why).toContainText("No speech in the samples");
  await expect(why.getByTestId("voice-check-link")).toHaveText("Check dataset e2e_voice");

  // The trainer's peak memory: in the machine panel and in the chart's hover values.
  await expect(page.getByTestId("trainer-peak-mem")).toContainText("GiB");
  await chart.locator("svg").first().hover();
  await expect(page.getByTestId("hover-peak-mem").first()).toContainText(/peak mem \d+\.\d\d GiB/);

  // The samples grid: a row per prompt with its text, a column per step; a click plays
  // the sample, with sound.
  const grid = page.getByTestId("samples");
  await expect(grid.locator("[data-prompt-row]")).toHaveCount(1);
  await expect(grid.locator("[data-prompt-row='0'] .prompt-text")).toContainText("a red circle moving left"); // the demo's prompt
  await expect(grid.locator("thead th").nth(1)).toHaveText("step 14");
  await grid.locator(".sample-cell").first().click();
  const video = page.locator("video[data-viewer]");
  await page.waitForFunction(() => {
    const v = document.querySelector("video[data-viewer]") as HTMLVideoElement & { webkitAudioDecodedByteCount?: number };
    return v && !v.muted && v.readyState >= 2 && (v.currentTime > 0 || v.ended) && (v.webkitAudioDecodedByteCount ?? 1) > 0;
  }, undefined, { timeout: 30_000 });

  // LoRA downloads and range requests on the sample.
  await expect(page.getByTestId("loras")).toContainText("e2e_tiny.safetensors");
  const link = page.getByTestId("loras").getByRole("link").last();
  const lora = await page.request.get((await link.getAttribute("href"))!);
  expect(lora.status()).toBe(200);
  expect(lora.headers()["content-disposition"]).toContain("attachment");
  const src = (await video.getAttribute("src"))!;
  const part = await page.request.get(src, { headers: { Range: "bytes=0-99" } });
  expect(part.status()).toBe(206);
  expect((await part.body()).length).toBe(100);
  // File routes stay inside the job folder.
  for (const bad of ["..%2F..%2Fjobs.db", "%2e%2e/%2e%2e/jobs.db", "samples/..%2F..%2F..%2Fjobs.db"]) {
    const res = await page.request.get(`${jobUrl.replace("/jobs/", "/api/jobs/")}/files/${bad}`);
    expect([400, 403, 404], bad).toContain(res.status());
  }
  await shot(page, "06-job-completed");

  // All samples as one ZIP file.
  const [zip] = await Promise.all([page.waitForEvent("download"), page.getByTestId("samples-zip").click()]);
  expect(zip.suggestedFilename()).toBe("e2e_tiny_samples.zip");
  const zipBytes = fs.readFileSync((await zip.path())!);
  expect(zipBytes.subarray(0, 4).toString("latin1")).toBe("PK\x03\x04");
  expect(zipBytes.includes("e2e_tiny_samples/000000014_00.mp4")).toBe(true);

  // The Config tab: the YAML that ran.
  await page.getByRole("tab", { name: "Config" }).click();
  await expect(page.getByTestId("config-ran")).toContainText("name: e2e_tiny");
  await expect(page.getByTestId("config-ran")).toContainText("steps: 14");
  await shot(page, "06b-config-tab");
  await page.getByRole("tab", { name: "Overview" }).click();

  // Older checkpoints: first their optimizer states (the LoRA stays), then the whole
  // checkpoint; the newest (a resume starts there) offers no delete.
  const runDir = path.join(DATASETS, "..", "output", "e2e_tiny");
  const stateFiles = () => fs.readdirSync(runDir).filter((f) => f.endsWith(".state.pt")).sort();
  const [oldState, newestState] = stateFiles();
  expect(newestState).toBe("e2e_tiny_000000014.state.pt");
  await page.getByTestId("delete-old-states").click();
  await expect(page.getByRole("dialog").getByTestId("confirm-files")).toContainText(oldState);
  await page.getByRole("dialog").getByRole("button", { name: "Delete" }).click();
  await expect(page.getByTestId("checkpoint-message")).toContainText("Deleted 2 file(s)");
  expect(stateFiles()).toEqual([newestState]);
  const oldLora = oldState.replace(".state.pt", ".safetensors");
  expect(fs.existsSync(path.join(runDir, oldLora))).toBe(true);
  const newestRow = page.locator('[data-testid="loras"] tr[data-step="14"]');
  await expect(newestRow).toContainText("newest: kept for resume");
  await expect(newestRow.getByRole("button")).toHaveCount(0);
  const oldRow = page.locator(`[data-testid="loras"] tr[data-step="${Number(oldState.match(/_(\d+)\./)![1])}"]`);
  await oldRow.getByRole("button", { name: "Delete…" }).click();
  await page.getByRole("dialog").getByRole("button", { name: "Delete" }).click();
  await expect(oldRow).toHaveCount(0);
  expect(fs.existsSync(path.join(runDir, oldLora))).toBe(false);
  expect(fs.existsSync(path.join(runDir, "e2e_tiny.safetensors"))).toBe(true);

  // The voice chart's link opens the Datasets page with the job's settings and starts the
  // check at once (its result on this page is shown above).
  const checkStarted = page.waitForRequest((r) => r.url().includes("/api/datasets/check/e2e_voice") && r.method() === "POST");
  await page.getByTestId("voice-check-link").click();
  await expect(page).toHaveURL(/\/datasets\/e2e_voice\?check=1&num_frames=17/);
  expect((await checkStarted).postDataJSON()).toMatchObject({ num_frames: 17, fps: 24, resolution: 64, do_audio: true });
  await expect(page.getByLabel("check resolution")).toHaveValue("64");

  await page.goto("/");
  await expect(page.getByTestId("jobs-table")).toContainText("e2e_tiny");
  await shot(page, "07-jobs-list");
});

test("stops a job, resumes it, and deletes it after confirmation", async ({ page }) => {
  await login(page);
  await page.goto(jobUrl);
  const jobCount = async () => ((await (await page.request.get("/api/jobs")).json()).jobs as unknown[]).length;
  const before = await jobCount();
  // Duplicate opens a draft: nothing is stored until it is saved.
  await page.getByRole("button", { name: "Duplicate" }).click();
  await expect(page).toHaveURL(/\/jobs\/new\?from=\d+$/);
  await expect(control(page, "config.name")).toHaveValue("e2e_tiny_copy");
  expect(await jobCount()).toBe(before);
  await page.locator("details.more").evaluateAll((ds) => ds.forEach((d) => ((d as HTMLDetailsElement).open = true)));
  await setField(page, `${P}.datasets[0].folder_path`, path.relative(REPO, path.join(DATASETS, "e2e_tones")));
  await setField(page, `${P}.train.steps`, "2000");
  await setField(page, `${P}.save.save_every`, "1000");
  await shot(page, "08-edit-duplicate");
  await page.getByRole("button", { name: "Save & start" }).click();
  await expect(page).toHaveURL(/\/jobs\/\d+$/);
  expect(await jobCount()).toBe(before + 1);

  // Trained on tones: the voice chart says there is no speech in the training clips.
  await expect(page.getByTestId("trainer-state")).toHaveText("trainer: training", { timeout: 180_000 });
  const why = page.getByTestId("voice-why");
  await expect(why).toHaveAttribute("data-reason", "no-training-speech");
  await expect(why).toContainText("No speech in the training clips");
  await expect(why.getByTestId("voice-check-link")).toHaveText("Check dataset e2e_tones");
  await shot(page, "08b-voice-no-training-speech");

  // Stop: it saves and exits, the job shows "stopped"; on the way, the page never says
  // "stopping" and "trainer: stopped" together (watched on every change of the page).
  await page.evaluate(() => {
    const w = window as unknown as { contradictions: string[] };
    w.contradictions = [];
    new MutationObserver(() => {
      const job = document.querySelector('[data-testid="job-state"]')?.textContent;
      const trainer = document.querySelector('[data-testid="trainer-state"]')?.textContent;
      if (job === "stopping" && trainer === "trainer: stopped") w.contradictions.push(`${job} / ${trainer}`);
    }).observe(document.body, { subtree: true, childList: true, characterData: true });
  });
  await page.getByRole("button", { name: "Stop" }).click();
  await waitForState(page, "stopped", 180_000);
  expect(await page.evaluate(() => (window as unknown as { contradictions: string[] }).contradictions)).toEqual([]);
  const stoppedAt = Number((await page.getByTestId("job-step").innerText()).split("/")[0]);
  expect(stoppedAt).toBeGreaterThan(0);
  await expect(page.getByTestId("loras")).toContainText(`e2e_tiny_copy_${String(stoppedAt).padStart(9, "0")}.safetensors`);
  await shot(page, "09-job-stopped");

  // Resume: the trainer continues from the saved step.
  await page.getByRole("button", { name: "Resume" }).click();
  await expect(page.getByTestId("log")).toContainText(`resuming from step ${stoppedAt}`, { timeout: 180_000 });
  await expect(page.getByTestId("trainer-state")).toHaveText("trainer: training", { timeout: 180_000 });
  await page.getByRole("button", { name: "Stop" }).click();
  await waitForState(page, "stopped", 180_000);

  // Delete, with its output, after the confirmation dialog.
  await page.getByRole("button", { name: "Delete", exact: true }).click();
  const dialog = page.getByRole("dialog");
  await expect(dialog).toContainText("Delete job e2e_tiny_copy?");
  await dialog.getByRole("checkbox").check();
  await shot(page, "10-delete-confirm");
  await dialog.getByRole("button", { name: "Delete", exact: true }).click();
  await expect(page).toHaveURL(/\/$/);
  await expect(page.getByTestId("jobs-table")).not.toContainText("e2e_tiny_copy");
  await expect(page.getByTestId("jobs-table")).toContainText("e2e_tiny");

  // A whole dataset goes after a confirmation.
  await page.goto("/datasets/e2e_tones");
  await page.getByRole("button", { name: "Delete dataset" }).click();
  await expect(page.getByRole("dialog")).toContainText("Delete the dataset e2e_tones?");
  await page.getByRole("dialog").getByRole("button", { name: "Delete dataset" }).click();
  await expect(page).toHaveURL(/\/datasets$/);
  await expect(page.getByTestId("datasets-table")).not.toContainText("e2e_tones");
  expect(fs.existsSync(path.join(DATASETS, "e2e_tones"))).toBe(false);
});

test("a job that stopped before step 1 offers Start, not Resume", async ({ page }) => {
  await login(page);
  // An empty dataset folder passes Validate, then the trainer stops at loading (no media).
  const api = page.request;
  expect((await api.post("/api/datasets", { data: { name: "e2e_empty" } })).status()).toBe(201);
  const config = {
    job: "extension",
    config: { name: "e2e_never", process: [{ type: "sd_trainer", model: { name_or_path: "models/tiny-ltx2" }, datasets: [{ folder_path: path.join(DATASETS, "e2e_empty"), num_frames: 17 }] }] },
  };
  const created = await api.post("/api/jobs", { data: { config, start: true } });
  expect(created.status(), await created.text()).toBe(201);
  await page.goto(`/jobs/${(await created.json()).job.id}`);
  await waitForState(page, "error", 120_000);
  await expect(page.getByTestId("job-error")).toContainText("no media files");
  await expect(page.getByRole("button", { name: "Start" })).toBeVisible();
  await expect(page.getByRole("button", { name: "Resume" })).toHaveCount(0);
});

test("a dataset with hostile links neither leaks, freezes nor deletes across datasets", async ({ page }) => {
  // What an attacker with write access to one dataset folder could leave there: a caption
  // linked to a file outside the datasets root, a FIFO named like a caption, a clip linked
  // from another dataset.
  const SECRET = "TOPSECRET-e2e-passwd-line";
  const dir = path.join(DATASETS, "e2e_links");
  fs.mkdirSync(dir, { recursive: true });
  const outside = path.join(DATASETS, "..", "passwd");
  fs.writeFileSync(outside, `root:x:0:0:${SECRET}:/root:/bin/bash\n`);
  for (const stem of ["leak", "fifo"]) fs.copyFileSync(path.join(SYNTHETIC, "clip_000.mp4"), path.join(dir, `${stem}.mp4`));
  fs.symlinkSync(outside, path.join(dir, "leak.txt"));
  execFileSync("mkfifo", [path.join(dir, "fifo.txt")]);
  fs.symlinkSync("../synthetic/clip_001.mp4", path.join(dir, "alias.mp4"));

  await login(page);
  await page.goto("/datasets/e2e_links");
  await expect(page.locator('[data-file="leak.mp4"]')).toBeVisible();
  await expect(page.locator('[data-file="fifo.mp4"]')).toBeVisible(); // the FIFO did not freeze the listing
  await expect(page.getByLabel("caption of leak.mp4")).toHaveValue("");
  // the card says why (not "no caption file": there is one, it is not read)
  await expect(page.getByLabel("caption of leak.mp4")).toHaveAttribute("placeholder", /leak\.txt is a link that leaves the datasets root/);
  expect(await page.content()).not.toContain(SECRET);
  expect((await page.request.get("/api/jobs")).status()).toBe(200); // and the server still answers
  await shot(page, "09-dataset-hostile-links");

  const removed = await page.request.delete("/api/datasets/files/e2e_links/alias.mp4", { headers: { "Content-Type": "application/json" } });
  expect(removed.status(), await removed.text()).toBe(200);
  expect(fs.existsSync(path.join(dir, "alias.mp4"))).toBe(false);
  expect(fs.existsSync(path.join(DATASETS, "synthetic", "clip_001.mp4"))).toBe(true); // the linked clip stays
  expect(fs.existsSync(path.join(DATASETS, "synthetic", "clip_001.txt"))).toBe(true);

  // A job started from the UI reads nothing through the caption link: it stops naming it.
  const config = {
    job: "extension",
    config: { name: "e2e_links", process: [{ type: "sd_trainer", model: { name_or_path: "models/tiny-ltx2" }, datasets: [{ folder_path: dir, num_frames: 17 }] }] },
  };
  const created = await page.request.post("/api/jobs", { data: { config, start: true } });
  expect(created.status(), await created.text()).toBe(201);
  await page.goto(`/jobs/${(await created.json()).job.id}`);
  await waitForState(page, "error", 120_000);
  await expect(page.getByTestId("job-error")).toContainText("outside the datasets root");
  expect(await page.content()).not.toContain(SECRET);
});
