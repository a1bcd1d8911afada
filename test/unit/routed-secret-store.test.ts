/**
 * RoutedSecretStore (routed-secret-store.ts): a secret's calls go to its route's store, or to the
 * fallback; a listing asks every store that holds some of the fleet (the fallback only when some
 * secret is its) and keeps from each only the secrets routed to it.
 */
import { describe, expect, it } from "vitest";
import type { SecretListing, SecretStore } from "../../src/core/ports.js";
import { RoutedSecretStore } from "../../src/store/routed-secret-store.js";

/** A store that lists `names` and records which store each call reached. */
function fakeStore(label: string, names: string[], calls: string[]): SecretStore {
  const listing = (name: string): SecretListing => ({ name, arn: `arn:${label}:${name}`, stages: {}, tags: {} });
  return {
    listSecrets: async () => (calls.push(`${label} list`), names.map(listing)),
    finishedRotation: async (id: string) => (calls.push(`${label} ${id}`), undefined),
  } as unknown as SecretStore;
}

describe("RoutedSecretStore", () => {
  it("sends a routed secret to its store and any other to the fallback", async () => {
    const calls: string[] = [];
    const home = fakeStore("home", [], calls);
    const away = fakeStore("away", [], calls);
    const store = new RoutedSecretStore(new Map([["eu/a", away]]), home, true);
    await store.finishedRotation("eu/a");
    await store.finishedRotation("us/b");
    expect(calls).toEqual(["away eu/a", "home us/b"]);
  });

  it("lists the fallback too when it holds some of the fleet, each secret from its own store", async () => {
    const calls: string[] = [];
    // Each store shows a secret of the other's (a name used in both places).
    const home = fakeStore("home", ["us/b", "eu/a"], calls);
    const away = fakeStore("away", ["eu/a", "us/b"], calls);
    const store = new RoutedSecretStore(new Map([["eu/a", away]]), home, true);
    const listed = await store.listSecrets([]);
    expect(calls.sort()).toEqual(["away list", "home list"]);
    expect(listed.map((l) => l.arn).sort()).toEqual(["arn:away:eu/a", "arn:home:us/b"]);
  });

  it("does not list the fallback when every secret is routed elsewhere", async () => {
    const calls: string[] = [];
    const home = fakeStore("home", ["us/b"], calls);
    const away = fakeStore("away", ["eu/a"], calls);
    const store = new RoutedSecretStore(new Map([["eu/a", away]]), home, false);
    expect((await store.listSecrets([])).map((l) => l.arn)).toEqual(["arn:away:eu/a"]);
    expect(calls).toEqual(["away list"]);
  });

  it("with no route at all, lists the fallback (the default)", async () => {
    const calls: string[] = [];
    const store = new RoutedSecretStore(new Map(), fakeStore("home", ["us/b"], calls));
    expect((await store.listSecrets([])).map((l) => l.name)).toEqual(["us/b"]);
  });
});
