/**
 * The loss chart's settings, remembered per browser (localStorage): smoothing, trend line,
 * outlier clipping and log scale apply to every job's chart, so a choice is made once.
 * The zoom is not remembered: it belongs to one look at one run.
 */
export interface ChartSettings {
  smoothing: number; // 0 (raw) .. 0.99 (EMA weight)
  trend: boolean;
  clip: boolean;
  log: boolean;
}

export const CHART_SETTINGS_KEY = "ltx2-ui.loss-chart";
export const DEFAULT_CHART_SETTINGS: ChartSettings = { smoothing: 0.6, trend: true, clip: false, log: false };

/** The stored settings, each value checked (a damaged or older entry falls back per key). */
export function readChartSettings(storage: Pick<Storage, "getItem"> | null): ChartSettings {
  let stored: Record<string, unknown> = {};
  try {
    const raw = storage?.getItem(CHART_SETTINGS_KEY);
    if (raw) stored = JSON.parse(raw) as Record<string, unknown>;
  } catch {
    stored = {}; // unreadable: the defaults
  }
  const bool = (key: keyof ChartSettings) => (typeof stored[key] === "boolean" ? (stored[key] as boolean) : (DEFAULT_CHART_SETTINGS[key] as boolean));
  const s = stored.smoothing;
  return {
    smoothing: typeof s === "number" && s >= 0 && s <= 0.99 ? s : DEFAULT_CHART_SETTINGS.smoothing,
    trend: bool("trend"),
    clip: bool("clip"),
    log: bool("log"),
  };
}

export function writeChartSettings(storage: Pick<Storage, "setItem"> | null, settings: ChartSettings): void {
  try {
    storage?.setItem(CHART_SETTINGS_KEY, JSON.stringify(settings));
  } catch {
    // storage full or disabled (private mode): the settings last for this page only
  }
}
