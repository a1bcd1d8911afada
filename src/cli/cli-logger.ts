/**
 * The CLI's logger: pino JSON lines on stderr (stdout is the command's answer), level from
 * LOG_LEVEL, default warn, with the worker's redaction.
 */
import { pino } from "pino";
import { type Logger, createLogger } from "../observability/logger.js";

export type { Logger };

export function cliLogger(): Logger {
  return createLogger({ level: process.env.LOG_LEVEL ?? "warn", destination: pino.destination(2) });
}
