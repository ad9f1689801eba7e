import path from "node:path";

/** The access token the e2e server runs with (a test secret, not a real one). */
export const E2E_TOKEN = "e2e-access-token-0123456789";
export const SCREENSHOTS = path.join(__dirname, "..", "..", "test-results", "screenshots");
