/** The part of dynalite's API the local server uses (the package ships no types). */
declare module 'dynalite' {
  import type { Server } from 'node:http';

  /** dynalite's options; all optional. */
  interface DynaliteOptions {
    /** LevelDB folder; in memory when absent. */
    path?: string;
    /** Milliseconds a table stays CREATING. @default 500 */
    createTableMs?: number;
    deleteTableMs?: number;
    updateTableMs?: number;
    maxItemSizeKb?: number;
    verbose?: boolean;
    debug?: boolean;
  }

  /** A DynamoDB-compatible HTTP server (not yet listening). */
  export default function dynalite(options?: DynaliteOptions): Server;
}
