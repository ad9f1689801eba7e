/**
 * "Prepare from footage" on the Datasets page, in Chromium against the built server and the
 * real `python -m toolkit.prepare`: 23 s of espeak-ng footage (two voices taking turns, a cut,
 * pauses; made by playwright.config.ts) is cut into a new dataset; the table shows each window with
 * its thumbnail, speaker score and transcript; a clip plays with sound; a transcript edited in
 * place rewrites the machine-made caption; drop and keep move windows; Check runs the
 * trainer's --check (with its speaker consistency) and Train opens a job on this folder.
 */
import fs from "node:fs";
import path from "node:path";
import { expect, Page, test } from "@playwright/test";
import { DATASETS, E2E_TOKEN, SCREENSHOTS } from "./env";

const WORK = path.dirname(DATASETS);

async function login(page: Page) {
  await page.goto("/login");
  await page.getByLabel("Access token").fill(E2E_TOKEN);
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page.getByRole("heading", { name: "Jobs" })).toBeVisible();
}

test("prepares a dataset from footage, reviews its windows, checks it and starts a job", async ({ page }) => {
  test.skip(fs.existsSync(path.join(WORK, "no-footage.txt")), "the footage needs espeak-ng");
  test.setTimeout(300_000);
  await login(page);
  expect((await page.request.post("/api/datasets", { data: { name: "e2e_prepared" } })).status()).toBe(201);
  await page.goto("/datasets/e2e_prepared");
  const panel = page.getByTestId("prepare");
  await panel.getByLabel("prepare footage").fill("footage/episode.mp4");
  await panel.getByLabel("prepare trigger").fill("ANNA");
  await panel.getByLabel("prepare frames").fill("73");
  await panel.getByLabel("prepare silent share").fill("0.3");
  await panel.getByRole("button", { name: "Prepare" }).click();
  await expect(page.getByTestId("prepare-result")).toContainText("prepared", { timeout: 240_000 });

  const table = page.getByTestId("prepare-table");
  const kept = table.locator('tr[data-status="kept"]');
  const leftOut = table.locator('tr[data-status="left_out"]');
  await expect(kept.first()).toBeVisible();
  expect(await kept.count()).toBe(4); // the character's four lines; the other voice's two are left out
  await expect(leftOut.filter({ hasText: "other speaker" })).toHaveCount(2);
  const score = Number(await kept.first().getByTestId("speaker-score").textContent());
  expect(score).toBeGreaterThanOrEqual(0.7);
  // the dataset grid now holds the kept clips with their captions
  await expect(page.getByTestId("media-grid").locator("article")).toHaveCount(await kept.count());

  // play a kept clip: it has sound
  const first = kept.first();
  const id = await first.getAttribute("data-window");
  await first.getByRole("button", { name: `play ${id}` }).click();
  const player = page.getByTestId("prepare-player");
  await expect(player).toBeVisible();
  await expect.poll(async () => player.evaluate((v: HTMLVideoElement) => {
    const decoded = (v as unknown as { webkitAudioDecodedByteCount?: number }).webkitAudioDecodedByteCount ?? 0;
    return v.readyState >= 2 && v.duration > 2.9 && v.duration < 3.2 && decoded > 0;
  }), { timeout: 30_000 }).toBe(true);

  // edit the transcript in place: the machine-made caption follows
  const box = first.getByLabel(`transcript of ${id}`);
  await box.fill("good morning everyone");
  await first.getByRole("button", { name: "Save" }).click();
  await expect(first.getByTestId("transcript-saved")).toBeVisible();
  await expect(table.locator(`tr[data-window="${id}"]`).getByTestId("window-caption")).toContainText('ANNA, speaks: "good morning everyone"');
  expect(fs.readFileSync(path.join(DATASETS, "e2e_prepared", `${id}.txt`), "utf8").trim()).toBe('ANNA, speaks: "good morning everyone"');

  fs.mkdirSync(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: path.join(SCREENSHOTS, "prepare.png"), fullPage: true });

  // drop it, keep another voice's window
  await table.locator(`tr[data-window="${id}"]`).getByRole("button", { name: "Drop" }).click();
  await expect(table.locator(`tr[data-window="${id}"]`)).toHaveAttribute("data-status", "left_out");
  expect(fs.existsSync(path.join(DATASETS, "e2e_prepared", `${id}.mp4`))).toBe(false);
  const other = leftOut.filter({ hasText: "other speaker" }).first();
  const otherId = await other.getAttribute("data-window");
  await other.getByRole("button", { name: "Keep" }).click();
  await expect(table.locator(`tr[data-window="${otherId}"]`)).toHaveAttribute("data-status", "kept");
  expect(fs.existsSync(path.join(DATASETS, "e2e_prepared", `${otherId}.mp4`))).toBe(true);

  // Check: the trainer's --check on the prepared clips, with the speaker consistency naming the other voice
  await panel.getByRole("button", { name: "Check" }).click();
  await expect(page.getByTestId("check-summary")).toContainText("dataset check: ok", { timeout: 120_000 });
  await expect(page.getByTestId("check-result")).toContainText("speaker consistency");
  await expect(page.getByTestId("check-result")).toContainText(`speaker outliers (1`);

  // Train: a new job on this folder with the trigger word and the clips' frames
  await panel.getByRole("link", { name: "Train" }).click();
  await expect(page).toHaveURL(/\/jobs\/new\?dataset=e2e_prepared/);
  await expect(page.locator('[data-field="config.process[0].datasets[0].num_frames"] input').first()).toHaveValue("73");
  await expect(page.locator('[data-field="config.process[0].trigger_word"] input').first()).toHaveValue("ANNA");
});
