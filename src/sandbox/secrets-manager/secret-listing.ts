/**
 * ListSecrets and BatchGetSecretValue of the emulator, as AWS documents them:
 * - Filters (at most 10; keys description, name, tag-key, tag-value, primary-region,
 *   owning-service, all; 1 to 10 values each, at most 512 characters, AWS's character pattern; a
 *   leading `!` negates). Values of one filter are alternatives, filters all apply. name, tag-key,
 *   tag-value, primary-region and owning-service match a prefix, case-sensitive; description a
 *   prefix, not case-sensitive; all matches words of every attribute, not case-sensitive.
 * - ListSecrets pages of MaxResults (1 to 100), sorted by SortBy / SortOrder. Like AWS, a page is
 *   a window of the whole list with the filters applied to it, so a filtered page may hold fewer
 *   entries than MaxResults, even none, and still carry a NextToken. Secrets planned for deletion
 *   only with IncludePlannedDeletion.
 * - BatchGetSecretValue: SecretIdList (1 to 20 names or ARNs) or Filters (pages of MaxResults, 1
 *   to 20), not both; the AWSCURRENT version of each; a secret it cannot return is an entry of
 *   Errors (ErrorCode, Message), not a failure of the call.
 * NextToken is opaque: it names the position and the request it belongs to; another request's
 * token is InvalidNextTokenException.
 * Must not: put a SecretString in an error, an Errors entry or a token.
 */
import { createHash } from "node:crypto";
import { AwsError } from "./secrets-state.js";

type Json = Record<string, unknown>;

/** What listing reads of a secret (SecretsState's own record, read-only). */
export interface ListedSecret {
  name: string;
  arn: string;
  created: number;
  deleted?: number;
  description?: string;
  tags: Map<string, string>;
  versions: Map<string, { id: string; value: string; stages: Set<string>; created: number }>;
}

const FILTER_KEYS = ["description", "name", "tag-key", "tag-value", "primary-region", "owning-service", "all"];
const VALUE_PATTERN = /^!?[a-zA-Z0-9 :_@/+=.\-!]*$/;
const SORT_BY = ["created-date", "last-accessed-date", "last-changed-date", "name"];
const CURRENT = "AWSCURRENT";

interface Filter {
  key: string;
  values: string[];
}

export function parseFilters(v: unknown): Filter[] {
  if (v === undefined) return [];
  if (!Array.isArray(v)) throw new AwsError("InvalidParameterException", "Filters must be a list of {Key, Values}.");
  if (v.length > 10) throw new AwsError("ValidationException", "Filters must have at most 10 members.");
  return v.map((f: unknown, i) => {
    const { Key, Values } = (f ?? {}) as Json;
    if (typeof Key !== "string" || !FILTER_KEYS.includes(Key))
      throw new AwsError("ValidationException", `Filters.${i + 1}.Key must be one of ${FILTER_KEYS.join(", ")}.`);
    if (!Array.isArray(Values) || Values.length < 1 || Values.length > 10)
      throw new AwsError("ValidationException", `Filters.${i + 1}.Values must have 1 to 10 members.`);
    for (const value of Values)
      if (typeof value !== "string" || value.length > 512 || !VALUE_PATTERN.test(value))
        throw new AwsError(
          "ValidationException",
          `Filters.${i + 1}.Values: each value is at most 512 characters of letters, digits and :_@/+=.-! and spaces.`,
        );
    return { key: Key, values: Values as string[] };
  });
}

/** Whether the secret passes every filter (the values of one filter are alternatives). */
export function matches(s: ListedSecret, filters: Filter[], region: string): boolean {
  return filters.every((f) => {
    const positive = f.values.filter((v) => !v.startsWith("!"));
    const negative = f.values.filter((v) => v.startsWith("!")).map((v) => v.slice(1));
    const hit = (value: string) => attributeMatches(s, f.key, value, region);
    return (positive.length === 0 || positive.some(hit)) && !negative.some(hit);
  });
}

function attributeMatches(s: ListedSecret, key: string, value: string, region: string): boolean {
  switch (key) {
    case "name":
      return s.name.startsWith(value);
    case "description":
      return (s.description ?? "").toLowerCase().startsWith(value.toLowerCase());
    case "tag-key":
      return [...s.tags.keys()].some((k) => k.startsWith(value));
    case "tag-value":
      return [...s.tags.values()].some((v) => v.startsWith(value));
    case "primary-region":
      return region.startsWith(value);
    case "owning-service":
      return false;
    default: {
      const words = wordsOf([s.name, s.description ?? "", ...s.tags.keys(), ...s.tags.values()].join(" "));
      return wordsOf(value).every((w) => words.some((x) => x.startsWith(w)));
    }
  }
}

/** AWS's words: letters and digits, split at a change of case, of letter and digit, and at punctuation. */
function wordsOf(text: string): string[] {
  return (text.match(/[A-Z]?[a-z]+|[A-Z]+(?![a-z])|[0-9]+/g) ?? []).map((w) => w.toLowerCase());
}

/** A token names the request (its hash) and where the next page starts. */
function tokenFor(request: string, position: number): string {
  return Buffer.from(JSON.stringify({ r: request, p: position })).toString("base64url");
}

function positionOf(token: unknown, request: string): number {
  if (token === undefined) return 0;
  if (typeof token !== "string" || token.length === 0 || token.length > 4096)
    throw new AwsError("InvalidNextTokenException", "The NextToken value is invalid.");
  try {
    const t = JSON.parse(Buffer.from(token, "base64url").toString()) as { r?: unknown; p?: unknown };
    if (t.r === request && Number.isSafeInteger(t.p) && (t.p as number) >= 0) return t.p as number;
  } catch {
    // falls through to the error below
  }
  throw new AwsError("InvalidNextTokenException", "The NextToken value is invalid.");
}

function requestHash(parts: unknown[]): string {
  return createHash("sha256").update(JSON.stringify(parts)).digest("hex").slice(0, 16);
}

function maxResults(v: unknown, max: number): number {
  if (v === undefined) return max;
  if (typeof v !== "number" || !Number.isInteger(v) || v < 1 || v > max)
    throw new AwsError("ValidationException", `MaxResults must be an integer from 1 to ${max}.`);
  return v;
}

function stagesOf(s: ListedSecret): Record<string, string[]> {
  return Object.fromEntries(
    [...s.versions.values()].filter((v) => v.stages.size > 0).map((v) => [v.id, [...v.stages]]),
  );
}

/** The last name order made, and of what: paging through 100,000 secrets by name sorts them once. */
let lastByName: { of: ListedSecret[]; sorted: ListedSecret[] } | undefined;

/** The secrets in name order (a name never changes, so the same secrets keep their order). */
function byName(all: ListedSecret[]): ListedSecret[] {
  const last = lastByName;
  if (last && last.of.length === all.length && last.of.every((s, i) => s === all[i])) return last.sorted;
  const sorted = [...all].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  lastByName = { of: all, sorted };
  return sorted;
}

export function listSecrets(all: ListedSecret[], r: Json, region: string): Json {
  const filters = parseFilters(r.Filters);
  const max = maxResults(r.MaxResults, 100);
  // Creation order is the order the state holds them in: sorted only when asked otherwise.
  const sortBy = r.SortBy === undefined ? "created-date" : String(r.SortBy);
  if (!SORT_BY.includes(sortBy))
    throw new AwsError("ValidationException", `SortBy must be one of ${SORT_BY.join(", ")}.`);
  const order = r.SortOrder === undefined ? "asc" : String(r.SortOrder);
  if (order !== "asc" && order !== "desc") throw new AwsError("ValidationException", "SortOrder must be asc or desc.");
  const planned = r.IncludePlannedDeletion === true;
  const request = requestHash(["ListSecrets", filters, sortBy, order, planned]);
  const start = positionOf(r.NextToken, request);
  let sorted =
    sortBy === "name" ? byName(all) : r.SortBy === undefined ? all : [...all].sort((a, b) => a.created - b.created);
  if (order === "desc") sorted = [...sorted].reverse();
  const window = sorted.slice(start, start + max);
  const page = window.filter((s) => (planned || s.deleted === undefined) && matches(s, filters, region));
  return {
    SecretList: page.map((s) => ({
      ARN: s.arn,
      Name: s.name,
      CreatedDate: s.created / 1000,
      ...(s.description ? { Description: s.description } : {}),
      ...(s.deleted !== undefined ? { DeletedDate: s.deleted / 1000 } : {}),
      Tags: [...s.tags].map(([Key, Value]) => ({ Key, Value })),
      SecretVersionsToStages: stagesOf(s),
      PrimaryRegion: region,
    })),
    ...(start + max < sorted.length ? { NextToken: tokenFor(request, start + max) } : {}),
  };
}

export function batchGetSecretValue(
  /** Every secret; called only for Filters (a list of ids is looked up one by one). */
  all: () => ListedSecret[],
  find: (id: string) => ListedSecret | undefined,
  r: Json,
  region: string,
): Json {
  const byList = r.SecretIdList !== undefined;
  if (byList === (r.Filters !== undefined))
    throw new AwsError("InvalidParameterException", "You must include Filters or SecretIdList, but not both.");
  if (byList) {
    if (r.MaxResults !== undefined || r.NextToken !== undefined)
      throw new AwsError(
        "InvalidParameterException",
        "MaxResults and NextToken can only be used with Filters, not with SecretIdList.",
      );
    const ids = r.SecretIdList;
    if (!Array.isArray(ids) || ids.length < 1 || ids.length > 20 || ids.some((x) => typeof x !== "string" || x === ""))
      throw new AwsError("ValidationException", "SecretIdList must have 1 to 20 secret names or ARNs.");
    const values: Json[] = [];
    const errors: Json[] = [];
    for (const id of ids as string[]) {
      const s = find(id);
      if (!s)
        errors.push({
          SecretId: id,
          ErrorCode: "ResourceNotFoundException",
          Message: "Secrets Manager can't find the specified secret.",
        });
      else if (s.deleted !== undefined)
        errors.push({
          SecretId: id,
          ErrorCode: "InvalidRequestException",
          Message: "You can't perform this operation on the secret because it was marked for deletion.",
        });
      else values.push(currentEntry(s, errors, id));
    }
    return { SecretValues: values.filter((v) => v.VersionId !== undefined), Errors: errors };
  }
  const filters = parseFilters(r.Filters);
  const max = maxResults(r.MaxResults, 20);
  const request = requestHash(["BatchGetSecretValue", filters]);
  const start = positionOf(r.NextToken, request);
  const sorted = all();
  const window = sorted.slice(start, start + max);
  const errors: Json[] = [];
  const values = window
    .filter((s) => s.deleted === undefined && matches(s, filters, region))
    .map((s) => currentEntry(s, errors, s.name))
    .filter((v) => v.VersionId !== undefined);
  return {
    SecretValues: values,
    Errors: errors,
    ...(start + max < sorted.length ? { NextToken: tokenFor(request, start + max) } : {}),
  };
}

function currentEntry(s: ListedSecret, errors: Json[], id: string): Json {
  const v = [...s.versions.values()].find((x) => x.stages.has(CURRENT));
  if (!v) {
    errors.push({
      SecretId: id,
      ErrorCode: "ResourceNotFoundException",
      Message: "Secrets Manager can't find the specified secret value for staging label: AWSCURRENT",
    });
    return {};
  }
  return {
    ARN: s.arn,
    Name: s.name,
    VersionId: v.id,
    SecretString: v.value,
    VersionStages: [...v.stages],
    CreatedDate: v.created / 1000,
  };
}
