/**
 * One page of errors. Every error the product raises on purpose is a RotatorError that says
 * whether repeating the same call may succeed (`retryable`) and keeps its `cause`.
 * Messages name credentials, steps, version ids and key ids; never a secret value.
 * Only the job wrapper turns a non-retryable error into BullMQ's UnrecoverableError.
 */
export class RotatorError extends Error {
  /** True when trying the same thing again later may succeed. */
  readonly retryable: boolean;

  constructor(message: string, options: { retryable: boolean; cause?: unknown }) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.retryable = options.retryable;
  }
}

/**
 * The vendor could not be asked, or answered with a fault (5xx, timeout, malformed body).
 * Retryable unless the vendor said something that will not change (403 on create, for example).
 * `changedNothing` is true when the call certainly changed nothing at the vendor: safe to retry.
 */
export class VendorError extends RotatorError {
  readonly status: number | undefined;
  constructor(message: string, options: { retryable: boolean; status?: number; cause?: unknown }) {
    super(message, options);
    this.status = options.status;
  }
}

/** The vendor asked us to slow down. The runtime waits until `retryAt` (epoch ms) and retries. */
export class RateLimitedError extends VendorError {
  readonly retryAt: number;
  constructor(message: string, retryAt: number) {
    super(message, { retryable: true, status: 429 });
    this.retryAt = retryAt;
  }
}

/** The secret store could not be read or written (throttled, 5xx, network). Retryable unless said. */
export class StoreError extends RotatorError {
  readonly awsType: string | undefined;
  constructor(message: string, options: { retryable: boolean; awsType?: string; cause?: unknown }) {
    super(message, options);
    this.awsType = options.awsType;
  }
}

/**
 * A call may or may not have taken effect (connection dropped after the request was sent to a
 * non-idempotent endpoint). The runtime must look before retrying; the rotation code does so.
 */
export class OutcomeUnknownError extends RotatorError {
  constructor(message: string, cause?: unknown) {
    super(message, { retryable: true, cause });
  }
}

/**
 * The world is not in a state the rotation can act on: a stored value of the wrong shape, a
 * secret that was deleted, a key of the wrong mode. Never retried automatically: a person looks.
 */
export class InvalidStateError extends RotatorError {
  constructor(message: string, cause?: unknown) {
    super(message, { retryable: false, cause });
  }
}

/**
 * AWSCURRENT is no longer on the version a promote was to replace: someone (another rotation
 * after Redis lost the first, a person) moved it meanwhile. The promote did nothing; the rotation
 * gives back what it made instead of clobbering the newer current version.
 */
export class SupersededError extends InvalidStateError {}

/** Bad input from a person or a file: inventory, CLI arguments, HTTP bodies. Exit code 2. */
export class ConfigError extends RotatorError {
  /** Every problem found, each as `path: what is wrong`. */
  readonly problems: string[];
  /** The file or input the problems are in, when one was named. */
  readonly where: string | undefined;
  constructor(problems: string[], where?: string) {
    const head = where ? `${where}: ` : "";
    super(`${head}${problems.join("; ")}`, { retryable: false });
    this.problems = problems;
    this.where = where;
  }
}

/** The error's message, without stack, for people and logs. */
export function describeError(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}

/** A problem's path as people read it: `credentials[2].rotation.every` from ["credentials", 2, "rotation", "every"]. */
export function formatPath(path: ReadonlyArray<PropertyKey>): string {
  if (path.length === 0) return "(top level)";
  return path.map((p, i) => (typeof p === "number" ? `[${p}]` : i === 0 ? String(p) : `.${String(p)}`)).join("");
}
