import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { meanIntensity, parseForecast, periodAt, readForecast } from '../../src/carbon/forecast.js';
import { isTesseraError } from '../../src/errors.js';

function failure(text: string): { code: string; message: string } | null {
  try {
    parseForecast(text, 'f');
  } catch (error) {
    if (isTesseraError(error)) return { code: error.code, message: error.message };
    throw error;
  }
  return null;
}

const UK = JSON.stringify({
  data: [
    { from: '2018-01-20T12:00Z', to: '2018-01-20T12:30Z', intensity: { forecast: 266, actual: null, index: 'moderate' } },
    { from: '2018-01-20T12:30Z', to: '2018-01-20T13:00Z', intensity: { forecast: 180, actual: null, index: 'low' } },
    { from: '2018-01-20T13:30Z', to: '2018-01-20T14:00Z', intensity: { forecast: null, actual: 150, index: 'low' } },
  ],
});

describe('forecast files', () => {
  it('reads the UK Carbon Intensity API forecast JSON, gaps and actual-only periods included', () => {
    const f = parseForecast(UK, 'uk.json');
    expect(f.periods).toEqual([
      { from: Date.parse('2018-01-20T12:00Z'), to: Date.parse('2018-01-20T12:30Z'), intensity: 266 },
      { from: Date.parse('2018-01-20T12:30Z'), to: Date.parse('2018-01-20T13:00Z'), intensity: 180 },
      { from: Date.parse('2018-01-20T13:30Z'), to: Date.parse('2018-01-20T14:00Z'), intensity: 150 },
    ]);
    expect(periodAt(f, Date.parse('2018-01-20T13:10Z'))).toBeNull(); // the gap is unknown, not zero
    expect(meanIntensity(f, Date.parse('2018-01-20T12:15Z'), Date.parse('2018-01-20T12:45Z'))).toBe(223);
    expect(meanIntensity(f, Date.parse('2018-01-20T12:45Z'), Date.parse('2018-01-20T13:45Z'))).toBeNull();
  });

  it('reads CSV with a header, comments, zone offsets and a last period as long as the one before', () => {
    const f = parseForecast('# from a grid operator\ntimestamp,intensity\n2026-06-01T00:00+01:00,210\n\n2026-06-01T00:00Z, 190.5\n', 'g.csv');
    expect(f.periods).toEqual([
      { from: Date.parse('2026-05-31T23:00Z'), to: Date.parse('2026-06-01T00:00Z'), intensity: 210 },
      { from: Date.parse('2026-06-01T00:00Z'), to: Date.parse('2026-06-01T01:00Z'), intensity: 190.5 },
    ]);
  });

  it('names the line and field of a malformed CSV', () => {
    const cases: [string, string][] = [
      ['timestamp,intensity\n2026-06-01T00:00,100\n2026-06-01T01:00Z,100', 'line 2, field timestamp'], // no zone
      ['2026-06-01T00:00Z,100\n2026-06-01T01:00Z,lots', 'line 2, field intensity'],
      ['2026-06-01T00:00Z,100\n2026-06-01T01:00Z,-3', 'line 2, field intensity'],
      ['2026-06-01T00:00Z,100\n2026-06-01T01:00Z,100,7', 'line 2: expected 2 fields'],
      ['2026-06-01T01:00Z,100\n2026-06-01T00:00Z,100', 'line 2, field timestamp: times must increase'],
      ['time,gco2\n2026-06-01T00:00Z,100', 'line 1, field timestamp'],
      ['timestamp,carbon\n2026-06-01T00:00Z,100', 'line 1: header'],
      ['2026-06-01T00:00Z,100', 'at least 2 rows'],
    ];
    for (const [text, where] of cases) {
      const f = failure(text);
      expect(f?.code, text).toBe('TESSERA_ERR_FORECAST');
      expect(f?.message, text).toContain(where);
    }
  });

  it('names the field of malformed forecast JSON', () => {
    const period = (over: object): string => JSON.stringify({ data: [{ from: '2018-01-20T12:00Z', to: '2018-01-20T12:30Z', intensity: { forecast: 10 } }, { from: '2018-01-20T12:30Z', to: '2018-01-20T13:00Z', intensity: { forecast: 10 }, ...over }] });
    const cases: [string, string][] = [
      ['{"data": [', 'not valid JSON'],
      ['{"periods": []}', 'data'],
      ['{"data": []}', 'data: holds no periods'],
      [period({ to: '2018-01-20T12:00Z' }), 'data[1].to'],
      [period({ from: 'noon' }), 'data[1].from'],
      [period({ intensity: { forecast: null, actual: null } }), 'data[1].intensity.actual'],
      [period({ intensity: { forecast: 'high' } }), 'data[1].intensity.forecast'],
      [period({ intensity: 5 }), 'data[1].intensity'],
      [period({ from: '2018-01-20T12:10Z' }), 'data[1].from: periods must be in time order'],
    ];
    for (const [text, where] of cases) {
      const f = failure(text);
      expect(f?.code, text).toBe('TESSERA_ERR_FORECAST');
      expect(f?.message, text).toContain(where);
    }
  });

  it('reports a signal file it cannot read', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'tessera-forecast-'));
    try {
      writeFileSync(path.join(dir, 'ok.json'), UK);
      expect(readForecast(path.join(dir, 'ok.json')).periods).toHaveLength(3);
      let code: string | undefined;
      try {
        readForecast(path.join(dir, 'missing.csv'));
      } catch (error) {
        code = isTesseraError(error) ? error.code : 'other';
      }
      expect(code).toBe('TESSERA_ERR_INPUT_FILE');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
