import path from "node:path";

/** The access token the e2e server runs with (a test secret, not a real one). */
export const E2E_TOKEN = "e2e-access-token-0123456789";
export const SCREENSHOTS = path.join(__dirname, "..", "..", "test-results", "screenshots");
/** The server with the token, and a second one without (the loopback default). */
export const PORT = Number(process.env.E2E_PORT ?? 8676);
export const NOAUTH_PORT = PORT + 1;
/** The datasets root of this run (playwright.config.ts fills it with a copy of data/synthetic). */
export const DATASETS = path.join(process.env.LTX2_E2E_WORK ?? "", "datasets");
