/**
 * Reads a file that came from outside (the inventory, a `{ file: }` secret reference, a token
 * file) within bounds: regular files only (a FIFO, `/dev/zero`, a socket or a directory is refused
 * at once, never waited on), at most `maxBytes`, and, for the async read, within `timeoutMs` (a
 * hung network mount). Errors name the file and what is wrong with it, never its content.
 *
 * Opening with O_NONBLOCK keeps a FIFO with no writer from blocking the open itself; the check is
 * on the opened descriptor (fstat), so a file swapped between a check and the read is still caught.
 */
import { closeSync, constants, fstatSync, openSync, readSync } from "node:fs";
import { open } from "node:fs/promises";
import { ConfigError } from "../core/errors.js";

export interface BoundedReadOptions {
  /** What the file is, for the error: "the inventory", "alert route secret", ... */
  what: string;
  maxBytes: number;
  timeoutMs?: number;
}

const FLAGS = constants.O_RDONLY | (constants.O_NONBLOCK ?? 0);

function why(code: string | undefined, err: unknown): string {
  if (code === "ENOENT") return "no such file";
  if (code === "EACCES") return "permission denied";
  if (code === "EISDIR") return "is a directory";
  return err instanceof Error ? err.message : String(err);
}

function kind(stat: { isDirectory(): boolean; isFIFO(): boolean; isCharacterDevice(): boolean; isSocket(): boolean }) {
  if (stat.isDirectory()) return "is a directory";
  if (stat.isFIFO()) return "is a FIFO (named pipe), not a regular file";
  if (stat.isCharacterDevice()) return "is a device, not a regular file";
  if (stat.isSocket()) return "is a socket, not a regular file";
  return "is not a regular file";
}

function tooBig(o: BoundedReadOptions, path: string): ConfigError {
  return new ConfigError([`cannot read ${o.what}: larger than ${o.maxBytes} bytes`], path);
}

export function readBoundedFileSync(path: string, o: BoundedReadOptions): string {
  let fd: number;
  try {
    fd = openSync(path, FLAGS);
  } catch (err) {
    throw new ConfigError([`cannot read ${o.what}: ${why((err as NodeJS.ErrnoException).code, err)}`], path);
  }
  try {
    const stat = fstatSync(fd);
    if (!stat.isFile()) throw new ConfigError([`cannot read ${o.what}: ${kind(stat)}`], path);
    if (stat.size > o.maxBytes) throw tooBig(o, path);
    const buf = Buffer.alloc(o.maxBytes + 1);
    let n = 0;
    for (let got = -1; got !== 0 && n <= o.maxBytes; n += got) got = readSync(fd, buf, n, buf.length - n, null);
    if (n > o.maxBytes) throw tooBig(o, path);
    return buf.subarray(0, n).toString("utf8");
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    throw new ConfigError([`cannot read ${o.what}: ${why((err as NodeJS.ErrnoException).code, err)}`], path);
  } finally {
    closeSync(fd);
  }
}

export async function readBoundedFile(path: string, o: BoundedReadOptions): Promise<string> {
  const timeoutMs = o.timeoutMs ?? 10_000;
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>(
    (_, reject) =>
      (timer = setTimeout(
        () => reject(new ConfigError([`cannot read ${o.what}: no answer within ${timeoutMs / 1000}s`], path)),
        timeoutMs,
      )),
  );
  try {
    return await Promise.race([readAsync(path, o), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

async function readAsync(path: string, o: BoundedReadOptions): Promise<string> {
  let handle;
  try {
    handle = await open(path, FLAGS);
  } catch (err) {
    throw new ConfigError([`cannot read ${o.what}: ${why((err as NodeJS.ErrnoException).code, err)}`], path);
  }
  try {
    const stat = await handle.stat();
    if (!stat.isFile()) throw new ConfigError([`cannot read ${o.what}: ${kind(stat)}`], path);
    if (stat.size > o.maxBytes) throw tooBig(o, path);
    const buf = Buffer.alloc(o.maxBytes + 1);
    let n = 0;
    for (let got = -1; got !== 0 && n <= o.maxBytes; n += got)
      got = (await handle.read(buf, n, buf.length - n, null)).bytesRead;
    if (n > o.maxBytes) throw tooBig(o, path);
    return buf.subarray(0, n).toString("utf8");
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    throw new ConfigError([`cannot read ${o.what}: ${why((err as NodeJS.ErrnoException).code, err)}`], path);
  } finally {
    await handle.close().catch(() => undefined);
  }
}
