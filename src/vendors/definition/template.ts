/**
 * Templates in a vendor definition: text with `{{namespace.name}}` placeholders, and JSON pointers
 * into an answer. Pure functions, no I/O.
 *
 * Which placeholders a slot may hold is decided here, once, when a definition loads: a secret
 * (`secret.*`, `session.*`, `key.*`) only in a header, a body or a basic-auth slot, never in a path
 * or a query, where it would reach access logs and proxies. Values put into a path are
 * percent-encoded, so a value cannot add a path segment, a query or a host.
 */

const PLACEHOLDER = /\{\{\s*([a-zA-Z][a-zA-Z0-9]*(?:\.[a-zA-Z][a-zA-Z0-9]*)?)\s*\}\}/g;
/** Namespaces whose values are secrets. */
export const SECRET_NAMESPACES = ["secret", "session", "key"] as const;

/** The placeholders of a template, as written (`fields.mode`, `name`). */
export function placeholders(template: string): string[] {
  return [...template.matchAll(PLACEHOLDER)].map((m) => m[1] ?? "");
}

/** Text left over that looks like a placeholder but is not one (`{{ fields. mode }}`, `{{x`). */
export function strayBraces(template: string): boolean {
  return template.replace(PLACEHOLDER, "").includes("{{");
}

export function isSecretName(name: string): boolean {
  const ns = name.split(".")[0] ?? "";
  return (SECRET_NAMESPACES as readonly string[]).includes(ns);
}

/** Fills a template; `encode` percent-encodes each value (paths and queries). Throws on a name it lacks. */
export function render(template: string, values: Readonly<Record<string, string>>, encode = false): string {
  return template.replace(PLACEHOLDER, (_, name: string) => {
    const value = values[name];
    if (value === undefined) throw new Error(`no value for {{${name}}}`);
    return encode ? encodeURIComponent(value) : value;
  });
}

/** Fills every string of a JSON body template; other values go as written. */
export function renderJson(body: unknown, values: Readonly<Record<string, string>>): unknown {
  if (typeof body === "string") return render(body, values);
  if (Array.isArray(body)) return body.map((b) => renderJson(b, values));
  if (body !== null && typeof body === "object")
    return Object.fromEntries(Object.entries(body).map(([k, v]) => [k, renderJson(v, values)]));
  return body;
}

/** Every string in a JSON body template (to check its placeholders). */
export function jsonStrings(body: unknown): string[] {
  if (typeof body === "string") return [body];
  if (Array.isArray(body)) return body.flatMap(jsonStrings);
  if (body !== null && typeof body === "object") return Object.values(body).flatMap(jsonStrings);
  return [];
}

/** The value at a JSON pointer (RFC 6901), or undefined when the path is not there. */
export function atPointer(doc: unknown, pointer: string): unknown {
  if (pointer === "") return doc;
  let here: unknown = doc;
  for (const raw of pointer.slice(1).split("/")) {
    const token = raw.replace(/~1/g, "/").replace(/~0/g, "~");
    if (Array.isArray(here)) {
      if (!/^(0|[1-9][0-9]*)$/.test(token)) return undefined;
      here = here[Number(token)];
    } else if (here !== null && typeof here === "object" && Object.hasOwn(here, token)) {
      here = (here as Record<string, unknown>)[token];
    } else {
      return undefined;
    }
  }
  return here;
}
