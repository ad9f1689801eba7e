/**
 * May the server listen on `host`? Loopback: always. Anything else exposes the trainer
 * (which runs processes on this machine) to the network, so it needs AI_TOOLKIT_AUTH.
 * Plain JS: the launcher runs before (and without) the Next.js build.
 */
const LOOPBACK_NAMES = new Set(["localhost", "::1", "[::1]", "0:0:0:0:0:0:0:1"]);

export function isLoopbackHost(host) {
  const h = String(host).trim().toLowerCase();
  return LOOPBACK_NAMES.has(h) || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h) || /^::ffff:127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}

/** The reason not to start, or null when starting is fine. */
export function bindProblem(host, token) {
  if (isLoopbackHost(host)) return null;
  if (token && String(token).trim()) return null;
  return (
    `refusing to listen on ${host} without an access token: anyone who can reach this port ` +
    `could run jobs on this machine. Set AI_TOOLKIT_AUTH=<secret>, or listen on 127.0.0.1.`
  );
}
