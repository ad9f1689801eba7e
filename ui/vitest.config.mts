import { defineConfig } from "vitest/config";
import { fileURLToPath } from "node:url";

export default defineConfig({
  resolve: { alias: { "@": fileURLToPath(new URL("./src", import.meta.url)) } },
  test: {
    include: ["tests/unit/**/*.test.ts"],
    environment: "node",
    // Python validation is a real subprocess (a test may run three): the limit only guards
    // against a hang, so a slow or busy CI machine must stay well inside it.
    testTimeout: 180_000,
  },
});
