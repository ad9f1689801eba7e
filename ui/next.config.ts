import type { NextConfig } from "next";

const nextConfig: NextConfig = {
  // better-sqlite3 is a native addon: it must be required from node_modules at run time,
  // never bundled.
  serverExternalPackages: ["better-sqlite3"],
  // The UI is served on a private port; no telemetry, no "powered by" header.
  poweredByHeader: false,
  // The build must not depend on the lint/type tooling of a developer's editor.
  typedRoutes: false,
};

export default nextConfig;
