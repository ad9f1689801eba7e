export function isLoopbackHost(host: string): boolean;
export function bindProblem(host: string, token: string | undefined | null): string | null;
