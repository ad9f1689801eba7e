/**
 * The LoRA files view in Chromium: from a job's page to its LoRA files, inspect's facts of
 * the final LoRA, strip-audio and split writing their files next to it (listed at once), a
 * second strip-audio refused because its output exists, and the audio half inspected.
 * The job is made through the API and its LoRA written by ui/tests/fixtures/tiny_lora.py
 * (no training needed); the real `python -m toolkit.lora_tools` does the work.
 */
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { expect, Page, test } from "@playwright/test";
import { newJobConfig } from "@/lib/configModel";
import { DATASETS, E2E_TOKEN, SCREENSHOTS } from "./env";

const REPO = path.resolve(__dirname, "..", "..", "..");
const NAME = "e2e_lora_tools";

async function login(page: Page) {
  await page.goto("/login");
  await page.getByLabel("Access token").fill(E2E_TOKEN);
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page.getByRole("heading", { name: "Jobs" })).toBeVisible();
}

const row = (page: Page, file: string) => page.getByTestId("lora-files").locator(`tr[data-file="${file}"]`);

test("inspects a job's LoRA, strips its audio and splits it next to the original", async ({ page }) => {
  await login(page);
  const config = newJobConfig({ name: NAME, folderPath: path.join(DATASETS, "synthetic"), modelPath: "models/tiny-ltx2" });
  const created = await page.request.post("/api/jobs", { data: { config, start: false } });
  expect(created.status(), await created.text()).toBe(201);
  const { job } = await created.json();
  const folder = path.join(process.env.LTX2_E2E_WORK ?? "", "output", NAME);
  fs.mkdirSync(folder, { recursive: true });
  execFileSync(path.join(REPO, ".venv", "bin", "python"), ["ui/tests/fixtures/tiny_lora.py", path.join(folder, `${NAME}.safetensors`)],
    { cwd: REPO });

  await page.goto(`/jobs/${job.id}`);
  await page.getByTestId("lora-tools-link").click();
  await expect(page).toHaveURL(new RegExp(`/jobs/${job.id}/loras$`));
  await row(page, `${NAME}.safetensors`).getByRole("button", { name: "Inspect" }).click();
  await expect(page.getByTestId("lora-version")).toContainText("LTX-2.0", { timeout: 120_000 });
  await expect(page.getByTestId("lora-network")).toHaveText("LoRA, 56 layers");
  await expect(page.getByTestId("lora-families")).toContainText("v2a");
  await expect(page.getByTestId("lora-selected")).toContainText("Strip audio: removes 28 layers (audio, v2a), keeps 28");

  await page.getByRole("button", { name: "Strip audio" }).click();
  await expect(page.getByTestId("lora-message")).toContainText(`Wrote ${NAME}_noaudio.safetensors`, { timeout: 120_000 });
  await expect(row(page, `${NAME}_noaudio.safetensors`)).toContainText("made from a LoRA");
  await page.getByRole("button", { name: "Split video / audio" }).click();
  await expect(page.getByTestId("lora-message")).toContainText("together at strength 1 they are the original", { timeout: 120_000 });
  await expect(row(page, `${NAME}_video.safetensors`)).toBeVisible();
  await expect(row(page, `${NAME}_audio.safetensors`)).toBeVisible();
  expect(fs.readdirSync(folder).sort()).toEqual([`${NAME}.safetensors`, `${NAME}_audio.safetensors`,
    `${NAME}_noaudio.safetensors`, `${NAME}_video.safetensors`]);

  await page.getByRole("button", { name: "Strip audio" }).click();
  await expect(page.getByTestId("lora-message")).toContainText("already exists", { timeout: 120_000 });
  await page.evaluate(() => window.scrollTo(0, 0));
  fs.mkdirSync(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: path.join(SCREENSHOTS, "20-lora-files.png"), fullPage: true });

  await row(page, `${NAME}_audio.safetensors`).getByRole("button", { name: "Inspect" }).click();
  await expect(page.getByTestId("lora-network")).toHaveText("LoRA, 28 layers", { timeout: 120_000 });
  await expect(page.getByTestId("lora-families")).not.toContainText("a2v");
});
