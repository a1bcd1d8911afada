/**
 * A secret value that cannot leak by accident: printing, logging, JSON-encoding or inspecting it
 * gives "[redacted]". The only way to the value is `reveal()`, called at the moment of use
 * (an HTTP header, a store write). Must not be stored in Redis job data or error messages.
 */
import { inspect } from "node:util";

const REDACTED = "[redacted]";

export class SecretValue {
  readonly #value: string;

  constructor(value: string) {
    this.#value = value;
  }

  reveal(): string {
    return this.#value;
  }

  get length(): number {
    return this.#value.length;
  }

  toString(): string {
    return REDACTED;
  }

  toJSON(): string {
    return REDACTED;
  }

  [inspect.custom](): string {
    return REDACTED;
  }
}
