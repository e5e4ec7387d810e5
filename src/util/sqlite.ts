/**
 * The one SQLite driver of Tessera (the server's history and the search index open their
 * databases through it): better-sqlite3, in the build that is safe on the running Node.
 *
 * Why two builds of one package. better-sqlite3 up to 12.x wraps its Database and Statement
 * objects in Node's raw `node::ObjectWrap`. Since Node 24.19 that class's destructor calls
 * `node::RemoveEnvironmentCleanupHook`, which CHECKs that a JavaScript context is entered.
 * V8 also collects garbage from platform tasks that run with no context entered (the
 * scavenge and memory-reducer jobs, and the tasks drained while a process exits), so a
 * Statement or Database that became garbage and is finalized by such a collection aborts
 * the whole process: "Assertion failed: (env) != nullptr" and SIGABRT. It is not an exit
 * problem only: any process that prepares statements and keeps running can die this way.
 * better-sqlite3 13 moved to Node-API (node-addon-api's ObjectWrap, whose finalizers need
 * no entered context), which removes the fault (found while reproducing issue 15's
 * "signal at exit" under Node 24; the same trace is reported by several projects that
 * upgraded to 13 for it). Its binary needs Node-API 10 (Node >= 22.14); Node 20 has 9 and
 * segfaults on it, while 12.x is safe there (Node 20's ObjectWrap has no such hook). So the
 * Node-API build is used wherever it can load, and 12.x only below Node-API 10.
 * Both builds have the same API (typed by @types/better-sqlite3).
 */
import { createRequire } from 'node:module';
import type BetterSqlite3 from 'better-sqlite3';

const require = createRequire(import.meta.url);

/** better-sqlite3 13's prebuilt binary is compiled for Node-API 10. */
export const NODE_API_BUILD_MIN = 10;

/** Which better-sqlite3 build this process loads: 'node-api' (13.x) or 'object-wrap' (12.x, Node-API < 10 only). */
export const SQLITE_BUILD: 'node-api' | 'object-wrap' = Number(process.versions.napi ?? 0) >= NODE_API_BUILD_MIN ? 'node-api' : 'object-wrap';

/** The Database class of the build that is safe here. */
export const Database: typeof BetterSqlite3 = SQLITE_BUILD === 'node-api' ? (require('better-sqlite3-napi') as typeof BetterSqlite3) : (require('better-sqlite3') as typeof BetterSqlite3);

/** An open database of either build. */
export type Database = BetterSqlite3.Database;
