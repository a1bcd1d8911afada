/**
 * The checks a vendor definition passes besides its schema, each problem with its path: every
 * placeholder names something its call has, a secret sits only where the definition may put one
 * (a header, a body, a basic-auth slot; never a path or a query), fields and secret keys named are
 * declared. Pure; no I/O.
 */
import type { CallDefinition, VendorDefinition } from "./definition-schema.js";
import { isSecretName, jsonStrings, placeholders, strayBraces } from "./template.js";

interface Slot {
  path: (string | number)[];
  template: string;
  /** Whether a secret may be put here (a header or a body), or not (a path, a query, a name). */
  secretOk: boolean;
  /** Names besides `fields.*` this slot may hold. */
  names: readonly string[];
}

export interface Problem {
  path: (string | number)[];
  message: string;
}

export function definitionProblems(d: VendorDefinition): Problem[] {
  const problems: Problem[] = [];
  const fieldNames = new Set(Object.keys(d.fields));
  if (d.flow === "key-api" && d.management.secretField) fieldNames.add(d.management.secretField);
  const secretKeys = d.flow === "key-api" ? d.management.secretKeys.map((k) => `secret.${k}`) : [];
  const keyNames = d.flow === "key-api" ? ["key.id", "key.secret"] : Object.keys(d.key.parts).map((p) => `key.${p}`);

  for (const slot of slots(d, secretKeys, keyNames)) {
    if (strayBraces(slot.template))
      problems.push({ path: slot.path, message: "a '{{' that is not a placeholder like {{fields.mode}}" });
    for (const name of placeholders(slot.template)) {
      if (name.startsWith("fields.")) {
        if (!fieldNames.has(name.slice(7)))
          problems.push({ path: slot.path, message: `{{${name}}}: no such field (declare it under fields)` });
      } else if (isSecretName(name) && !slot.secretOk) {
        problems.push({
          path: slot.path,
          message: `{{${name}}} is a secret: it may go only in a header or the body, never in a path or a query`,
        });
      } else if (!slot.names.includes(name)) {
        const allowed = ["fields.*", ...slot.names].map((n) => `{{${n}}}`).join(", ");
        problems.push({ path: slot.path, message: `{{${name}}} is not known here (this slot may use ${allowed})` });
      }
    }
  }

  if (d.flow === "key-api") {
    const usesSecret = secretKeys.length > 0 || JSON.stringify(d.management.auth).includes("{{secret.");
    if (usesSecret && !d.management.secretField)
      problems.push({
        path: ["management", "secretField"],
        message: "the auth reads a management secret: name the inventory field that holds its secret id",
      });
    const rl = d.rateLimit;
    if (d.usage && !(rl.perKey && rl.limit && rl.remaining && rl.reset))
      problems.push({
        path: ["usage"],
        message: "a usage block needs rateLimit.perKey: true with its limit, remaining and reset headers",
      });
    const perDay = d.usage?.perDay;
    if (perDay !== undefined && typeof perDay === "object") {
      const f = d.fields[perDay.field];
      if (!f?.enum) problems.push({ path: ["usage", "perDay", "field"], message: `expected a field with enum values` });
      else
        for (const v of Object.keys(perDay.values))
          if (!f.enum.includes(v))
            problems.push({ path: ["usage", "perDay", "values", v], message: `not a value of field ${perDay.field}` });
    }
    const auth = d.management.auth;
    if (auth.kind === "login" && auth.refresh && auth.login.answer.refreshToken === undefined)
      problems.push({ path: ["management", "auth", "refresh"], message: "a refresh needs login.answer.refreshToken" });
  } else if (Object.keys(d.key.parts).length < 1) {
    problems.push({ path: ["key", "parts"], message: "expected at least one part" });
  } else if (d.key.identity !== undefined && !Object.hasOwn(d.key.parts, d.key.identity)) {
    problems.push({
      path: ["key", "identity"],
      message: `expected one of the parts (${Object.keys(d.key.parts).join(", ")}), or no identity for a key that is one secret`,
    });
  } else if (d.key.display !== undefined && d.key.identity === undefined) {
    problems.push({
      path: ["key", "display"],
      message:
        "display shows characters of the identity part: without an identity (a key that is one secret) nothing may be shown",
    });
  }

  for (const [name, f] of Object.entries(d.fields))
    if (f.default !== undefined && f.enum && !f.enum.includes(f.default))
      problems.push({ path: ["fields", name, "default"], message: `not one of ${f.enum.join(", ")}` });
  return problems;
}

/** Every template of a definition with what it may hold. */
function slots(d: VendorDefinition, secretKeys: string[], keyNames: string[]): Slot[] {
  const out: Slot[] = [];
  const callSlots = (
    path: (string | number)[],
    call: CallDefinition,
    own: readonly string[],
    secrets: readonly string[],
  ) => {
    out.push({ path: [...path, "path"], template: call.path, secretOk: false, names: own });
    for (const [k, v] of Object.entries(call.query))
      out.push({ path: [...path, "query", k], template: v, secretOk: false, names: own });
    const inside = [...own, ...secrets];
    for (const [k, v] of Object.entries(call.headers))
      out.push({ path: [...path, "headers", k], template: v, secretOk: true, names: inside });
    for (const [k, v] of Object.entries(call.form ?? {}))
      out.push({ path: [...path, "form", k], template: v, secretOk: true, names: inside });
    for (const v of jsonStrings(call.body))
      out.push({ path: [...path, "body"], template: v, secretOk: true, names: inside });
    for (const part of ["username", "password"] as const)
      if (call.basic)
        out.push({ path: [...path, "basic", part], template: call.basic[part], secretOk: true, names: inside });
  };
  callSlots(["calls", "verify"], d.calls.verify, [], keyNames);
  if (d.flow === "key-api") {
    callSlots(["calls", "create"], d.calls.create, ["name"], []);
    callSlots(["calls", "list"], d.calls.list, [], []);
    callSlots(["calls", "revoke"], d.calls.revoke, ["keyId"], []);
    if (d.key.prefix !== undefined)
      out.push({ path: ["key", "prefix"], template: d.key.prefix, secretOk: false, names: [] });
    out.push({ path: ["account"], template: d.account, secretOk: false, names: [] });
    const auth = d.management.auth;
    const at = ["management", "auth"];
    if (auth.kind === "headers")
      for (const [k, v] of Object.entries(auth.headers))
        out.push({ path: [...at, "headers", k], template: v, secretOk: true, names: secretKeys });
    if (auth.kind === "basic") {
      out.push({ path: [...at, "username"], template: auth.username, secretOk: true, names: secretKeys });
      out.push({ path: [...at, "password"], template: auth.password, secretOk: true, names: secretKeys });
    }
    if (auth.kind === "login") {
      callSlots([...at, "login"], auth.login, [], secretKeys);
      if (auth.refresh) callSlots([...at, "refresh"], auth.refresh, [], ["session.refreshToken"]);
      for (const [k, v] of Object.entries(auth.headers))
        out.push({ path: [...at, "headers", k], template: v, secretOk: true, names: ["session.token"] });
    }
  }
  return out;
}
