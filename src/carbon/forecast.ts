import { readFileSync } from 'node:fs';
import { TesseraError } from '../errors.js';

/**
 * Grid carbon-intensity forecasts (gCO2/kWh per period), from a CSV of
 * `timestamp,intensity` or the JSON of the UK Carbon Intensity API's forecast
 * endpoints ({"data":[{"from","to","intensity":{"forecast","actual","index"}}]}).
 * Times must carry a zone (Z or ±hh:mm): a forecast read in another zone would
 * otherwise shift every period silently.
 */

export interface Period {
  /** Unix milliseconds, inclusive. */
  from: number;
  /** Unix milliseconds, exclusive. */
  to: number;
  /** gCO2 per kWh. */
  intensity: number;
}

export interface Forecast {
  /** Sorted, non-overlapping (gaps allowed: their intensity is unknown). */
  periods: Period[];
  source: string;
}

const ZONED = /^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})$/;

function bad(source: string, where: string, what: string): TesseraError {
  return new TesseraError('TESSERA_ERR_FORECAST', `${source}: ${where}: ${what}`);
}

function time(value: unknown, source: string, where: string): number {
  if (typeof value !== 'string' || !ZONED.test(value.trim())) {
    throw bad(source, where, `expected an ISO 8601 time with a zone (e.g. 2018-01-20T12:00Z), got ${JSON.stringify(value)}`);
  }
  const ms = Date.parse(value.trim().replace(' ', 'T'));
  if (!Number.isFinite(ms)) throw bad(source, where, `not a valid time: ${JSON.stringify(value)}`);
  return ms;
}

function intensity(value: unknown, source: string, where: string): number {
  const n = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isFinite(n) || n < 0) {
    throw bad(source, where, `intensity must be a number of gCO2/kWh >= 0, got ${JSON.stringify(value)}`);
  }
  return n;
}

/**
 * CSV: one `timestamp,intensity` per line, an optional header, `#` comments. Each row's
 * period runs to the next row's time; the last row lasts as long as the one before.
 */
export function parseForecastCsv(text: string, source = 'forecast'): Forecast {
  const rows: { line: number; at: number; intensity: number }[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = i + 1;
    const content = raw.trim();
    if (content === '' || content.startsWith('#')) return;
    const cells = content.split(',').map((c) => c.trim());
    if (rows.length === 0 && /^timestamp$/i.test(cells[0] ?? '')) {
      if (cells.length !== 2 || !/^intensity$/i.test(cells[1] ?? '')) throw bad(source, `line ${line}`, 'header must be "timestamp,intensity"');
      return;
    }
    if (cells.length !== 2) throw bad(source, `line ${line}`, `expected 2 fields (timestamp,intensity), got ${cells.length}`);
    const at = time(cells[0], source, `line ${line}, field timestamp`);
    const value = intensity(cells[1], source, `line ${line}, field intensity`);
    const previous = rows[rows.length - 1];
    if (previous !== undefined && at <= previous.at) throw bad(source, `line ${line}, field timestamp`, 'times must increase from row to row');
    rows.push({ line, at, intensity: value });
  });
  if (rows.length < 2) throw bad(source, 'file', `needs at least 2 rows to know a period's length, got ${rows.length}`);
  const periods = rows.map((row, i) => {
    const next = rows[i + 1];
    const to = next !== undefined ? next.at : row.at + (row.at - rows[i - 1]!.at);
    return { from: row.at, to, intensity: row.intensity };
  });
  return { periods, source };
}

/** UK Carbon Intensity API forecast JSON; `forecast` is used, `actual` where no forecast is given. */
export function parseForecastJson(text: string, source = 'forecast'): Forecast {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (error) {
    throw bad(source, 'file', `not valid JSON (${(error as Error).message})`);
  }
  const data = (doc as { data?: unknown } | null)?.data;
  if (!Array.isArray(data)) throw bad(source, 'data', 'expected {"data": [ … ]} as the Carbon Intensity API returns');
  if (data.length === 0) throw bad(source, 'data', 'holds no periods');
  const periods: Period[] = data.map((entry: unknown, i) => {
    const where = `data[${i}]`;
    if (typeof entry !== 'object' || entry === null) throw bad(source, where, 'expected an object with from, to and intensity');
    const e = entry as { from?: unknown; to?: unknown; intensity?: { forecast?: unknown; actual?: unknown } | null };
    const from = time(e.from, source, `${where}.from`);
    const to = time(e.to, source, `${where}.to`);
    if (to <= from) throw bad(source, `${where}.to`, 'must be after from');
    if (typeof e.intensity !== 'object' || e.intensity === null) throw bad(source, `${where}.intensity`, 'expected {"forecast": …, "actual": …}');
    const value = e.intensity.forecast ?? e.intensity.actual;
    const field = e.intensity.forecast === null || e.intensity.forecast === undefined ? 'actual' : 'forecast';
    return { from, to, intensity: intensity(value, source, `${where}.intensity.${field}`) };
  });
  periods.forEach((p, i) => {
    if (i > 0 && p.from < periods[i - 1]!.to) throw bad(source, `data[${i}].from`, 'periods must be in time order without overlap');
  });
  return { periods, source };
}

/** Parses either format: JSON when the text starts with `{`, else CSV. */
export function parseForecast(text: string, source = 'forecast'): Forecast {
  return text.trimStart().startsWith('{') ? parseForecastJson(text, source) : parseForecastCsv(text, source);
}

export function readForecast(file: string): Forecast {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new TesseraError('TESSERA_ERR_INPUT_FILE', `cannot read the carbon signal file ${file}: ${(error as Error).message}`, { cause: error, param: 'carbon-signal' });
  }
  return parseForecast(text, file);
}

/** The period holding `at`, or null where the forecast says nothing. */
export function periodAt(forecast: Forecast, at: number): Period | null {
  return forecast.periods.find((p) => p.from <= at && at < p.to) ?? null;
}

/** Time-weighted mean intensity over [from, to), or null when a part of it is not covered. */
export function meanIntensity(forecast: Forecast, from: number, to: number): number | null {
  if (to <= from) return periodAt(forecast, from)?.intensity ?? null;
  let covered = 0;
  let weighted = 0;
  for (const p of forecast.periods) {
    const overlap = Math.min(p.to, to) - Math.max(p.from, from);
    if (overlap > 0) {
      covered += overlap;
      weighted += overlap * p.intensity;
    }
  }
  return covered >= to - from ? weighted / covered : null;
}
