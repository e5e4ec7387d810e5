/**
 * Where the queue lives: a `redis://HOST:PORT[/DB]` URL (or `rediss://` for TLS, with an
 * optional `user:password@`) parsed into ioredis options for BullMQ.
 *
 * Every connection is made to wait out a Redis outage rather than fail: BullMQ requires
 * `maxRetriesPerRequest: null` for workers (a blocking command must not error after 20
 * retries; docs.bullmq.io "Going to production" and "Connections"), and the batch client
 * uses the same so a Redis restart mid-run only pauses it (ioredis reconnects on its own,
 * with the back-off below, and replays queued commands).
 */
import { TesseraError } from '../errors.js';

export interface QueueConnection {
  host: string;
  port: number;
  db: number;
  username?: string;
  password?: string;
  tls: boolean;
  /** The URL as given, password hidden (for messages and /readyz). */
  display: string;
}

const DEFAULT_PORT = 6379;

function urlError(value: string, why: string): TesseraError {
  return new TesseraError('TESSERA_ERR_QUEUE_URL', `--queue ${JSON.stringify(value)} ${why}; expected redis://HOST:PORT[/DB] (or rediss:// for TLS)`, { param: 'queue' });
}

/** Parses a queue URL; throws TESSERA_ERR_QUEUE_URL naming what is wrong. */
export function parseQueueUrl(value: string): QueueConnection {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw urlError(value, 'is not a URL');
  }
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') throw urlError(value, `has scheme ${JSON.stringify(url.protocol.slice(0, -1))}`);
  if (url.hostname === '') throw urlError(value, 'has no host');
  const port = url.port === '' ? DEFAULT_PORT : Number(url.port);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw urlError(value, `has port ${url.port}, not 1-65535`);
  const dbText = url.pathname.replace(/^\//, '');
  const db = dbText === '' ? 0 : Number(dbText);
  if (!/^\d{1,2}$/.test(dbText === '' ? '0' : dbText) || db > 15) throw urlError(value, `has database ${JSON.stringify(dbText)}, not 0-15`);
  if (url.search !== '' || url.hash !== '') throw urlError(value, 'has a query or fragment');
  const username = url.username === '' ? undefined : decodeURIComponent(url.username);
  const password = url.password === '' ? undefined : decodeURIComponent(url.password);
  const auth = username === undefined && password === undefined ? '' : `${username ?? ''}:***@`;
  return {
    host: url.hostname.replace(/^\[|\]$/g, ''),
    port,
    db,
    username,
    password,
    tls: url.protocol === 'rediss:',
    display: `${url.protocol}//${auth}${url.host}/${db}`,
  };
}

/** ioredis options for BullMQ's `connection` (every Tessera connection: see the module comment). */
export function redisOptions(connection: QueueConnection): Record<string, unknown> {
  return {
    host: connection.host,
    port: connection.port,
    db: connection.db,
    username: connection.username,
    password: connection.password,
    tls: connection.tls ? {} : undefined,
    maxRetriesPerRequest: null,
    // Reconnect forever, backing off to 2 s: a restarted Redis is picked up within 2 s.
    retryStrategy: (times: number) => Math.min(100 * times, 2000),
  };
}
