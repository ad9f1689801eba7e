/**
 * A hostile page on another port of the same machine (same *site* as the UI, so even a
 * SameSite=Strict session cookie goes along) tries to create, start and delete jobs with
 * no-cors fetches and an HTML form, and to delete a dataset and a job's checkpoints, against
 * the server with a token (signed in) and the one without a token. A client that rebinds a DNS name to 127.0.0.1 is refused on its
 * Host header. Each time, the jobs are shown to be unchanged.
 */
import fs from "node:fs";
import http from "node:http";
import { AddressInfo } from "node:net";
import { APIRequestContext, expect, request, test } from "@playwright/test";
import path from "node:path";
import { DATASETS, E2E_TOKEN, NOAUTH_PORT, PORT } from "./env";

test.describe.configure({ mode: "serial" });

const HOSTILE_HTML = `<!doctype html><html><body>
<iframe name="sink"></iframe>
<form id="f" method="POST" target="sink" enctype="text/plain"><input name='{"config":' value='1}'></form>
<script>
async function attack(base, id) {
  const body = JSON.stringify({ config: { job: "extension", config: { name: "pwned", process: [] } }, start: true });
  const opts = (method, b) => ({ method, mode: "no-cors", credentials: "include", body: b });
  const shots = [
    fetch(base + "/api/jobs", opts("POST", body)),
    fetch(base + "/api/jobs/" + id + "/start", opts("POST", "{}")),
    fetch(base + "/api/datasets/folder/synthetic", { method: "DELETE", mode: "no-cors", credentials: "include" }),
    fetch(base + "/api/jobs/" + id + "/checkpoints?steps=1", { method: "DELETE", mode: "no-cors", credentials: "include" }),
    fetch(base + "/api/jobs/" + id, { method: "DELETE", mode: "no-cors", credentials: "include" }),
  ];
  await Promise.allSettled(shots);
  const f = document.getElementById("f");
  f.action = base + "/api/jobs/" + id + "/start";
  await new Promise((done) => { document.querySelector("iframe").onload = done; f.submit(); });
  document.title = "done";
}
</script></body></html>`;

let hostile: http.Server;
let hostileUrl = "";

test.beforeAll(async () => {
  hostile = http.createServer((_req, res) => res.writeHead(200, { "Content-Type": "text/html" }).end(HOSTILE_HTML));
  await new Promise<void>((ok) => hostile.listen(0, "127.0.0.1", ok));
  hostileUrl = `http://127.0.0.1:${(hostile.address() as AddressInfo).port}/`;
});
test.afterAll(async () => new Promise<void>((ok) => hostile.close(() => ok())));

async function makeJob(api: APIRequestContext, name: string): Promise<number> {
  const config = {
    job: "extension",
    config: {
      name, process: [{
        type: "sd_trainer", model: { name_or_path: "models/tiny-ltx2" },
        datasets: [{ folder_path: path.join(DATASETS, "synthetic"), num_frames: 17, resolution: [64] }], train: { steps: 2 },
      }],
    },
  };
  const res = await api.post("/api/jobs", { data: { config } });
  expect(res.status(), await res.text()).toBe(201);
  return (await res.json()).job.id;
}

async function jobs(api: APIRequestContext) {
  return ((await (await api.get("/api/jobs")).json()).jobs as { id: number; name: string; state: string }[])
    .map((j) => `${j.id}:${j.name}:${j.state}`);
}

for (const server of [{ label: "with a token, signed in", port: PORT, auth: true }, { label: "without a token", port: NOAUTH_PORT, auth: false }]) {
  test(`a page on another port changes nothing (${server.label})`, async ({ page }) => {
    const base = `http://127.0.0.1:${server.port}`;
    const api = await request.newContext({
      baseURL: base, extraHTTPHeaders: server.auth ? { Authorization: `Bearer ${E2E_TOKEN}` } : {},
    });
    const id = await makeJob(api, `target_${server.port}`);
    const before = await jobs(api);
    if (server.auth) {
      // A signed-in browser: the session cookie is SameSite=Strict, yet same-site for 127.0.0.1:<other port>.
      await page.goto(`${base}/login`);
      await page.getByLabel("Access token").fill(E2E_TOKEN);
      await page.getByRole("button", { name: "Sign in" }).click();
      await expect(page.getByRole("heading", { name: "Jobs" })).toBeVisible();
    }
    await page.goto(hostileUrl);
    await page.evaluate(([b, i]) => (window as unknown as { attack: (b: string, i: number) => Promise<void> }).attack(b as string, i as number), [base, id]);
    await expect(page).toHaveTitle("done");
    expect(await jobs(api)).toEqual(before);
    expect(fs.existsSync(path.join(DATASETS, "synthetic", "clip_000.mp4"))).toBe(true);
    // The same JSON calls from the UI's own origin do work (the refusal is about the origin).
    const draft = await api.get(`/api/jobs/${id}/duplicate`);
    expect(draft.status()).toBe(200);
    const own = await api.post("/api/jobs", { headers: { "Content-Type": "application/json" }, data: { config: (await draft.json()).config } });
    expect(own.status(), await own.text()).toBe(201);
    for (const job of [id, (await own.json()).job.id]) {
      expect((await api.delete(`/api/jobs/${job}`, { headers: { "Content-Type": "application/json" } })).status()).toBe(200);
    }
    await api.dispose();
  });
}

test("a rebound DNS name is refused on its Host header", async () => {
  const get = (port: number, host: string, method = "GET") => new Promise<{ status: number; body: string }>((ok, fail) => {
    const req = http.request({ host: "127.0.0.1", port, path: "/api/jobs", method, headers: { Host: host, "Content-Type": "application/json", Authorization: `Bearer ${E2E_TOKEN}` } }, (res) => {
      let body = "";
      res.setEncoding("utf8").on("data", (d) => (body += d)).on("end", () => ok({ status: res.statusCode ?? 0, body }));
    });
    req.on("error", fail);
    req.end(method === "POST" ? '{"config":{}}' : undefined);
  });
  for (const port of [PORT, NOAUTH_PORT]) {
    const evil = await get(port, `rebind.example:${port}`);
    expect(evil.status).toBe(421);
    expect(evil.body).not.toContain("target_");
    expect((await get(port, `rebind.example:${port}`, "POST")).status).toBe(421);
    expect((await get(port, `localhost:${port}`)).status).toBe(200);
  }
});
