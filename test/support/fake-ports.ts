/**
 * In-memory ports that record every call in one shared `calls` list, so a test can assert the
 * exact order of vendor and store calls. The fake store keeps Secrets Manager's stage rules
 * (one version per stage, AWSCURRENT moving leaves AWSPREVIOUS, token idempotency).
 */
import { InvalidStateError, StoreError, SupersededError, VendorError } from "../../src/core/errors.js";
import {
  STAGE_CURRENT,
  STAGE_PENDING,
  STAGE_PREVIOUS,
  type Alert,
  type Alerter,
  type CreatedKey,
  type CurrentVersions,
  FINISHED_TAG,
  type SecretListing,
  type SecretPage,
  type KeyApiVendor,
  type ListedKey,
  type SecretStore,
  type StoredVersion,
  type Verdict,
  type VersionInfo,
  type VersionRef,
} from "../../src/core/ports.js";
import { SecretValue } from "../../src/core/secret.js";
import { vendorModule } from "../../src/vendors/registry.js";
import type { KeyApiModule, OperatorModule } from "../../src/vendors/vendor-module.js";

const callcov = vendorModule("callcov") as KeyApiModule;
const justcall = vendorModule("justcall") as OperatorModule;
/** The value shapes the fakes' seeded values follow (a key-API vendor's, an operator vendor's). */
export const KEY_VALUE = callcov.value;
export const PAIR_VALUE = justcall.value;
export const PAIR_GUIDE = { ...justcall.guide, vendorName: justcall.name };

/**
 * The key a fake vendor knows, from what the engine hands `verify` (the key's parts as JSON,
 * definition-vendor.ts): a key-API key's secret, or an operator key's parts joined with ':'. A
 * test that hands a bare key gets it back as it is.
 */
export function fakeKeyOf(key: SecretValue): string {
  try {
    const parts = JSON.parse(key.reveal()) as Record<string, string>;
    if (parts !== null && typeof parts === "object") return parts.secret ?? Object.values(parts).join(":");
  } catch {
    // a bare key
  }
  return key.reveal();
}

export type Calls = string[];

/** Throws the given error on the n-th call whose name matches (1-based), once. */
export class FailurePlan {
  #rules: Array<{ call: string; nth: number; error: () => Error; seen: number }> = [];
  failOn(call: string, nth: number, error: () => Error): this {
    this.#rules.push({ call, nth, error, seen: 0 });
    return this;
  }
  check(call: string): void {
    for (const rule of this.#rules) {
      if (rule.call !== call) continue;
      rule.seen += 1;
      if (rule.seen === rule.nth) throw rule.error();
    }
  }
}

interface FakeVersion {
  versionId: string;
  stages: string[];
  value: string;
  createdAt: Date;
}

export class FakeStore implements SecretStore {
  readonly secrets = new Map<string, FakeVersion[]>();
  constructor(
    readonly calls: Calls,
    readonly failures = new FailurePlan(),
    readonly now: () => number = Date.now,
  ) {}

  seed(secretId: string, versionId: string, value: string): void {
    this.secrets.set(secretId, [{ versionId, stages: [STAGE_CURRENT], value, createdAt: new Date(this.now()) }]);
  }

  #versions(secretId: string): FakeVersion[] {
    const versions = this.secrets.get(secretId);
    if (!versions) throw new InvalidStateError(`secret ${secretId} not found`);
    return versions;
  }

  #enter(call: string): void {
    this.calls.push(`store.${call}`);
    this.failures.check(call);
  }

  async listVersions(secretId: string): Promise<VersionInfo[]> {
    this.#enter("listVersions");
    return this.#versions(secretId).map((v) => ({
      versionId: v.versionId,
      stages: [...v.stages],
      createdAt: v.createdAt,
    }));
  }

  async read(secretId: string, ref: VersionRef): Promise<StoredVersion> {
    this.#enter("read");
    const v = this.#versions(secretId).find((x) =>
      "versionId" in ref ? x.versionId === ref.versionId : x.stages.includes(ref.stage),
    );
    if (!v) throw new InvalidStateError(`secret ${secretId}: no version ${JSON.stringify(ref)}`);
    return { versionId: v.versionId, stages: [...v.stages], createdAt: v.createdAt, value: new SecretValue(v.value) };
  }

  async putPending(secretId: string, token: string, value: SecretValue): Promise<string> {
    this.#enter("putPending");
    const versions = this.#versions(secretId);
    const existing = versions.find((v) => v.versionId === token);
    if (existing) {
      if (existing.value !== value.reveal())
        throw new InvalidStateError(`token ${token} already used with another value`);
      return token;
    }
    for (const v of versions) v.stages = v.stages.filter((s) => s !== STAGE_PENDING);
    versions.push({
      versionId: token,
      stages: [STAGE_PENDING],
      value: value.reveal(),
      createdAt: new Date(this.now()),
    });
    return token;
  }

  async promote(secretId: string, versionId: string, fromVersionId?: string): Promise<void> {
    this.#enter("promote");
    const versions = this.#versions(secretId);
    const target = versions.find((v) => v.versionId === versionId);
    if (!target) throw new InvalidStateError(`no version ${versionId}`);
    if (target.stages.includes(STAGE_CURRENT)) return;
    const holder = versions.find((v) => v.stages.includes(STAGE_CURRENT));
    if (fromVersionId && holder?.versionId !== fromVersionId)
      throw new SupersededError(`AWSCURRENT is on ${holder?.versionId ?? "?"}, not ${fromVersionId}`);
    for (const v of versions) v.stages = v.stages.filter((s) => s !== STAGE_PREVIOUS);
    for (const v of versions) {
      if (v.stages.includes(STAGE_CURRENT)) v.stages = [...v.stages.filter((s) => s !== STAGE_CURRENT), STAGE_PREVIOUS];
    }
    target.stages.push(STAGE_CURRENT);
  }

  async removePending(secretId: string, versionId: string): Promise<void> {
    this.#enter("removePending");
    const v = this.#versions(secretId).find((x) => x.versionId === versionId);
    if (v) v.stages = v.stages.filter((s) => s !== STAGE_PENDING);
  }

  readonly finished = new Map<string, string>();

  async markFinished(secretId: string, versionId: string): Promise<void> {
    this.#enter("markFinished");
    this.#versions(secretId);
    this.finished.set(secretId, versionId);
  }

  async finishedRotation(secretId: string): Promise<string | undefined> {
    this.#enter("finishedRotation");
    this.#versions(secretId);
    return this.finished.get(secretId);
  }

  async listSecrets(namePrefixes: string[]): Promise<SecretListing[]> {
    this.#enter("listSecrets");
    return [...this.secrets.keys()].flatMap((name) => this.#listed(name, namePrefixes));
  }

  #listed(name: string, namePrefixes: string[]): SecretListing[] {
    const versions = this.secrets.get(name);
    if (!versions || (namePrefixes.length > 0 && !namePrefixes.some((p) => name.startsWith(p)))) return [];
    const finished = this.finished.get(name);
    return [
      {
        name,
        arn: `arn:fake:secret:${name}`,
        stages: Object.fromEntries(
          versions.filter((v) => v.stages.length > 0).map((v) => [v.versionId, [...v.stages]]),
        ),
        tags: (finished === undefined ? {} : { [FINISHED_TAG]: finished }) as Record<string, string>,
      },
    ];
  }

  /** How many secrets a page of `listSecretsPage` spans (AWS: 100), filtered or not. */
  pageSize = 100;

  /** A window of the secrets in name order, filtered after (as AWS pages); the token is the position, tied to the filter. */
  async listSecretsPage(namePrefixes: string[], token?: string): Promise<SecretPage> {
    this.#enter("listSecretsPage");
    const request = namePrefixes.join("|");
    let start = 0;
    if (token !== undefined) {
      const [r, p] = token.split("@");
      if (r !== request || !/^\d+$/.test(p ?? ""))
        throw new StoreError("ListSecrets: InvalidNextTokenException", { retryable: false });
      start = Number(p);
    }
    const names = [...this.secrets.keys()].sort();
    return {
      secrets: names.slice(start, start + this.pageSize).flatMap((name) => this.#listed(name, namePrefixes)),
      ...(start + this.pageSize < names.length ? { next: `${request}@${start + this.pageSize}` } : {}),
    };
  }

  async readCurrent(secretIds: string[]): Promise<CurrentVersions> {
    this.#enter("readCurrent");
    const out: CurrentVersions = { read: new Map(), failed: new Map() };
    for (const id of secretIds) {
      const v = this.secrets.get(id)?.find((x) => x.stages.includes(STAGE_CURRENT));
      if (!v) out.failed.set(id, new InvalidStateError(`secret ${id} not found`));
      else
        out.read.set(id, {
          versionId: v.versionId,
          stages: [...v.stages],
          createdAt: v.createdAt,
          value: new SecretValue(v.value),
        });
    }
    return out;
  }

  stagesOf(secretId: string): Record<string, string[]> {
    return Object.fromEntries(this.#versions(secretId).map((v) => [v.versionId, v.stages]));
  }

  current(secretId: string): { versionId: string; value: string } {
    const v = this.#versions(secretId).find((x) => x.stages.includes(STAGE_CURRENT));
    if (!v) throw new Error("no current");
    return v;
  }
}

export class FakeVendor implements KeyApiVendor {
  readonly active = new Map<string, { keyId: string; name: string; key: string; createdAt: Date }>();
  readonly revoked: string[] = [];
  /** Keys the vendor refuses even though they exist (a verify failure). */
  readonly refuse = new Set<string>();
  #next = 1;
  constructor(
    readonly calls: Calls,
    readonly failures = new FailurePlan(),
    /** When keys are made, as the vendor reports it (the contract suite holds the fake to it). */
    readonly now: () => number = Date.now,
  ) {}

  #enter(call: string): void {
    this.calls.push(`vendor.${call}`);
    this.failures.check(call);
  }

  seed(keyId: string, key: string, name = "made by hand"): void {
    this.active.set(keyId, { keyId, name, key, createdAt: new Date(this.now()) });
  }

  async createKey(name: string): Promise<CreatedKey> {
    this.#enter("createKey");
    const n = this.#next++;
    const created = {
      keyId: `k${n}`,
      name,
      key: `sk_live_fakekey${String(n).padStart(8, "0")}`,
      createdAt: new Date(this.now()),
    };
    this.active.set(created.keyId, created);
    return { keyId: created.keyId, name, key: new SecretValue(created.key), createdAt: created.createdAt };
  }

  async verify(key: SecretValue): Promise<Verdict> {
    this.#enter("verify");
    const known = fakeKeyOf(key);
    const found = [...this.active.values()].find((k) => k.key === known);
    if (!found || this.refuse.has(found.keyId))
      return { valid: false, status: 401, reason: "Invalid or missing API key" };
    return { valid: true };
  }

  async revokeKey(keyId: string): Promise<"revoked" | "already-gone"> {
    this.#enter("revokeKey");
    if (!this.active.delete(keyId)) return "already-gone";
    this.revoked.push(keyId);
    return "revoked";
  }

  async listKeys(): Promise<ListedKey[]> {
    this.#enter("listKeys");
    return [...this.active.values()].map((k) => ({ keyId: k.keyId, name: k.name, createdAt: k.createdAt }));
  }
}

export class FakeAlerter implements Alerter {
  readonly raised: Alert[] = [];
  readonly resolved: string[] = [];
  async raise(alert: Alert): Promise<void> {
    this.raised.push(alert);
  }
  async resolve(credentialId: string, kind: string): Promise<void> {
    this.resolved.push(`${credentialId}/${kind}`);
  }
}

export const vendorFault = () => new VendorError("vendor answered 503", { retryable: true, status: 503 });
export const storeFault = () =>
  new StoreError("ThrottlingException", { retryable: true, awsType: "ThrottlingException" });
