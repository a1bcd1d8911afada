/**
 * A redis-server of the test's own that speaks only TLS (Debian's redis-server is built with it),
 * on a loopback port the test names, with a CA made here by openssl and an ACL user whose
 * password is in a file; the default user is off. Also a second CA that signed nothing of the
 * server's, for the "wrong CA" case.
 *
 * Must not: leave the server running (stop, or the test process's exit, kills it).
 */
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { RedisTopology } from "../../src/queue/redis.js";
import { SecretValue } from "../../src/core/secret.js";
import { serverGroup } from "./redis-servers.js";

export const TLS_USER = "key-rotator";

export interface RedisTlsUnderTest {
  port: number;
  url: string;
  caFile: string;
  /** A CA that did not sign the server's certificate. */
  otherCaFile: string;
  passwordFile: string;
  password: string;
  /** rediss:// with the CA file, the user and the password file. */
  topology(over?: { caFile?: string; passwordFile?: string }): RedisTopology;
  stop(): Promise<void>;
}

/** The files of a test CA, a server certificate it signed (for 127.0.0.1 and localhost), and a second CA that signed nothing. */
export interface TestCertificates {
  caFile: string;
  otherCaFile: string;
  certFile: string;
  keyFile: string;
}

/** Makes them with openssl in `dir`. */
export function makeTestCertificates(dir: string): TestCertificates {
  const openssl = (...args: string[]) => {
    try {
      execFileSync("openssl", args, { cwd: dir, stdio: ["ignore", "ignore", "pipe"] });
    } catch (err) {
      const missing = (err as { code?: string }).code === "ENOENT";
      throw new Error(
        missing ? "openssl not found: apt-get install openssl" : `openssl ${args[0]} failed: ${String(err)}`,
      );
    }
  };
  const key = ["-nodes", "-newkey", "rsa:2048"];
  for (const ca of ["ca", "other-ca"])
    openssl(
      "req",
      "-x509",
      "-new",
      ...key,
      "-days",
      "2",
      "-subj",
      `/CN=kr-test-${ca}`,
      "-keyout",
      `${ca}.key`,
      "-out",
      `${ca}.crt`,
    );
  openssl("req", "-new", ...key, "-subj", "/CN=localhost", "-keyout", "server.key", "-out", "server.csr");
  writeFileSync(join(dir, "server.ext"), "subjectAltName=IP:127.0.0.1,DNS:localhost\n");
  const sign = ["-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-days", "2", "-extfile", "server.ext"];
  openssl("x509", "-req", "-in", "server.csr", ...sign, "-out", "server.crt");
  return {
    caFile: join(dir, "ca.crt"),
    otherCaFile: join(dir, "other-ca.crt"),
    certFile: join(dir, "server.crt"),
    keyFile: join(dir, "server.key"),
  };
}

/** redis-server's flags to serve TLS with `certs` (clients need no certificate of their own). */
export function tlsServerArgs(certs: TestCertificates): string[] {
  return [
    "--tls-cert-file",
    certs.certFile,
    "--tls-key-file",
    certs.keyFile,
    "--tls-ca-cert-file",
    certs.caFile,
    "--tls-auth-clients",
    "no",
  ];
}

/** A password for a test server: random, so a leak test can look for it. */
export function testPassword(): string {
  return `pw-${randomBytes(12).toString("hex")}`;
}

export async function startRedisTls(o: { port: number }): Promise<RedisTlsUnderTest> {
  const group = serverGroup("tls");
  const dir = group.dir;
  const file = (name: string) => join(dir, name);
  try {
    const certs = makeTestCertificates(dir);
    const password = testPassword();
    writeFileSync(file("password"), `${password}\n`, { mode: 0o600 });
    await group.start(
      o.port,
      [
        "--port",
        "0",
        "--tls-port",
        String(o.port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
        ...tlsServerArgs(certs),
        "--user",
        TLS_USER,
        "on",
        `>${password}`,
        "~*",
        "&*",
        "+@all",
        "--user",
        "default",
        "off",
      ],
      { client: { tls: { ca: readFileSync(certs.caFile) }, username: TLS_USER, password } },
    );
    const url = `rediss://127.0.0.1:${o.port}`;
    return {
      port: o.port,
      url,
      caFile: certs.caFile,
      otherCaFile: certs.otherCaFile,
      passwordFile: file("password"),
      password,
      topology: (over = {}) => {
        const caFile = over.caFile ?? certs.caFile;
        const passwordFile = over.passwordFile ?? file("password");
        return {
          kind: "node",
          url,
          tls: { caFile, ca: readFileSync(caFile) },
          login: {
            username: TLS_USER,
            password: new SecretValue(readFileSync(passwordFile, "utf8").trim()),
            passwordFile,
          },
        };
      },
      stop: () => group.stopAll(),
    };
  } catch (err) {
    await group.stopAll();
    throw err;
  }
}
