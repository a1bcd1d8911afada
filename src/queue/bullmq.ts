/**
 * The BullMQ classes this product uses, loaded from their own modules instead of BullMQ's index.
 * The index also loads the PostgreSQL, Bun, Valkey GLIDE and relay backends and the sandboxed
 * processor machinery, none of which a worker or the CLI uses: some 70 modules and 1.2 MB of an
 * idle worker's heap, and start-up time for every CLI command.
 * BullMQ is pinned to one version (package.json); test/unit/bullmq.test.ts checks that these are
 * the index's own classes, so an upgrade that moves a file fails there, not in production.
 * Types still come from "bullmq" itself: the index re-exports these very modules.
 */
import { createRequire } from "node:module";
import type * as BullMQ from "bullmq";

const load = createRequire(import.meta.url);
const classes = (file: string) => load(`bullmq/dist/cjs/classes/${file}`) as typeof BullMQ;

export const Queue = classes("queue.js").Queue;
export type Queue = BullMQ.Queue;
export const Worker = classes("worker.js").Worker;
export type Worker = BullMQ.Worker;
export const { DelayedError, UnrecoverableError } = classes("errors/index.js");
