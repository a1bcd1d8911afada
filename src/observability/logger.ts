/**
 * The process logger: pino JSON lines on stdout (or a given stream), level from LOG_LEVEL.
 * Redaction of the usual secret-bearing fields is the second belt; the first is SecretValue,
 * which prints "[redacted]" wherever it ends up.
 */
import { pino, type DestinationStream, type Logger } from "pino";

export type { Logger };

export const REDACT_PATHS = [
  "apiKey",
  "*.apiKey",
  "apiSecret",
  "*.apiSecret",
  "password",
  "*.password",
  "key",
  "*.key",
  "access_token",
  "*.access_token",
  "refresh_token",
  "*.refresh_token",
  "token",
  "*.token",
  "authorization",
  "*.authorization",
  "headers.authorization",
  "*.headers.authorization",
  "routingKey",
  "*.routingKey",
  "webhookUrl",
  "*.webhookUrl",
  "hmacSecret",
  "*.hmacSecret",
  "SecretString",
  "*.SecretString",
];

export function createLogger(options: { level?: string; destination?: DestinationStream; name?: string } = {}): Logger {
  return pino(
    {
      name: options.name ?? "key-rotator",
      level: options.level ?? process.env.LOG_LEVEL ?? "info",
      redact: { paths: REDACT_PATHS, censor: "[redacted]" },
      base: { pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    options.destination,
  );
}
