/**
 * The footprint flags shared by `tessera generate`, `tessera batch` and `tessera serve`:
 * where gCO2e's grid intensity comes from, and the power figure of the CPU-time
 * estimate (docs/footprint.md).
 */
import { TesseraError } from '../errors.js';
import { readForecast } from '../carbon/forecast.js';
import { DEFAULT_GRID, type FootprintSettings } from '../footprint/report.js';
import { numberFlag } from './args.js';

export const FOOTPRINT_FLAGS = {
  'grid-intensity': { type: 'string' },
  'grid-signal': { type: 'string' },
  'watts-per-core': { type: 'string' },
} as const;

export const FOOTPRINT_USAGE = `  --grid-intensity G   grid carbon intensity in gCO2/kWh for the footprint (0-5000;
                       default 480, the 2023 world average)
  --grid-signal FILE   read the intensity at the time of each generation from a forecast
                       (CSV timestamp,intensity or UK Carbon Intensity API JSON)
  --watts-per-core W   power of one busy core for the CPU-time energy estimate when RAPL
                       is not readable (default: TESSERA_WATTS_PER_CORE or 10)`;

interface FootprintFlagValues {
  'grid-intensity'?: string;
  'grid-signal'?: string;
  'watts-per-core'?: string;
}

/** Footprint settings from the flags; a bad figure is TESSERA_ERR_OPTION, a bad signal file TESSERA_ERR_FORECAST. */
export function footprintFromFlags(values: FootprintFlagValues): FootprintSettings {
  const fixed = numberFlag('grid-intensity', values['grid-intensity']);
  const signal = values['grid-signal'];
  const watts = numberFlag('watts-per-core', values['watts-per-core']);
  if (fixed !== undefined && signal !== undefined) {
    throw new TesseraError('TESSERA_ERR_OPTION', '--grid-intensity and --grid-signal contradict each other: give one', { param: 'grid-intensity' });
  }
  if (fixed !== undefined && !(fixed >= 0 && fixed <= 5000)) {
    throw new TesseraError('TESSERA_ERR_OPTION', `--grid-intensity must be a number of gCO2/kWh from 0 to 5000, got ${fixed}`, { param: 'grid-intensity' });
  }
  if (watts !== undefined && !(watts > 0 && watts <= 10_000)) {
    throw new TesseraError('TESSERA_ERR_OPTION', `--watts-per-core must be a number of watts in (0, 10000], got ${watts}`, { param: 'watts-per-core' });
  }
  // A signal file is read (and checked) now, so a malformed one fails before any work.
  const grid = signal !== undefined ? { kind: 'signal' as const, file: signal, forecast: readForecast(signal) } : fixed !== undefined ? { kind: 'fixed' as const, gPerKWh: fixed } : DEFAULT_GRID;
  return watts === undefined ? { grid } : { grid, energy: { wattsPerCore: watts } };
}
