import { TesseraError } from '../errors.js';
import { periodAt, readForecast, type Forecast } from '../carbon/forecast.js';

/**
 * Grid carbon intensity for turning energy into gCO2e: a fixed figure
 * (`--grid-intensity G`, gCO2/kWh) or a signal file (the same CSV/JSON forecast
 * formats as `tessera batch --carbon-signal`), read at the time the work ran.
 */

/** `source` labels a fixed figure in reports (default "fixed"). */
export type GridSetting = { kind: 'fixed'; gPerKWh: number; source?: string } | { kind: 'signal'; file: string; forecast?: Forecast };

/**
 * The intensity used when none is given: the world average of electricity generation
 * in 2023, about 480 gCO2/kWh (Ember, Global Electricity Review 2024). Reported with
 * its source, so a figure from it is never mistaken for a measurement of the local grid.
 */
export const DEFAULT_GRID: GridSetting = { kind: 'fixed', gPerKWh: 480, source: 'default: 2023 world average (Ember); set --grid-intensity or --grid-signal' };

export interface GridIntensity {
  gPerKWh: number;
  /** "fixed" or "signal FILE (period from … to …)". */
  source: string;
}

export function checkIntensity(value: number, param = 'grid-intensity'): number {
  if (!Number.isFinite(value) || value < 0 || value > 5000) {
    throw new TesseraError('TESSERA_ERR_ENERGY', `grid intensity must be a number of gCO2/kWh from 0 to 5000, got ${value}`, { param });
  }
  return value;
}

export function gridIntensityAt(setting: GridSetting, at: number): GridIntensity {
  if (setting.kind === 'fixed') return { gPerKWh: checkIntensity(setting.gPerKWh), source: setting.source ?? 'fixed' };
  const forecast = setting.forecast ?? readForecast(setting.file);
  const period = periodAt(forecast, at);
  if (period === null) {
    throw new TesseraError('TESSERA_ERR_FORECAST', `${setting.file}: no period covers ${new Date(at).toISOString()}`, { param: 'grid-signal' });
  }
  return {
    gPerKWh: period.intensity,
    source: `signal ${setting.file} (${new Date(period.from).toISOString()} to ${new Date(period.to).toISOString()})`,
  };
}

/** gCO2e of `joules` at `gPerKWh`. */
export function gramsCO2e(joules: number, gPerKWh: number): number {
  return (joules / 3.6e6) * gPerKWh;
}
