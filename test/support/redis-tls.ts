/**
 * A redis-server of the test's own that speaks only TLS (Debian's redis-server is built with it),
 * on a loopback port the test names, with a CA made here by openssl and an ACL user whose
 * password is in a file; the default user is off. Also a second CA that signed nothing of the
 * server's, for the "wrong CA" case.
 *
 * Must not: leave the server running (stop, or the test process's exit, kills it).
 */
import { execFileSync } from "node:child_process";
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

export async function startRedisTls(o: { port: number }): Promise<RedisTlsUnderTest> {
  const group = serverGroup("tls");
  const dir = group.dir;
  const file = (name: string) => join(dir, name);
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
  try {
    for (const ca of ["ca", "other-ca"]) {
      const subject = `/CN=kr-test-${ca}`;
      openssl(
        "req",
        "-x509",
        "-new",
        "-nodes",
        "-newkey",
        "rsa:2048",
        "-days",
        "2",
        "-subj",
        subject,
        "-keyout",
        `${ca}.key`,
        "-out",
        `${ca}.crt`,
      );
    }
    openssl(
      "req",
      "-new",
      "-nodes",
      "-newkey",
      "rsa:2048",
      "-subj",
      "/CN=localhost",
      "-keyout",
      "server.key",
      "-out",
      "server.csr",
    );
    writeFileSync(file("server.ext"), "subjectAltName=IP:127.0.0.1,DNS:localhost\n");
    openssl(
      "x509",
      "-req",
      "-in",
      "server.csr",
      "-CA",
      "ca.crt",
      "-CAkey",
      "ca.key",
      "-CAcreateserial",
      "-days",
      "2",
      "-extfile",
      "server.ext",
      "-out",
      "server.crt",
    );
    const password = `pw-${Math.random().toString(36).slice(2)}-${Date.now().toString(36)}`;
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
        "--tls-cert-file",
        file("server.crt"),
        "--tls-key-file",
        file("server.key"),
        "--tls-ca-cert-file",
        file("ca.crt"),
        "--tls-auth-clients",
        "no",
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
      { client: { tls: { ca: readFileSync(file("ca.crt")) }, username: TLS_USER, password } },
    );
    const url = `rediss://127.0.0.1:${o.port}`;
    return {
      port: o.port,
      url,
      caFile: file("ca.crt"),
      otherCaFile: file("other-ca.crt"),
      passwordFile: file("password"),
      password,
      topology: (over = {}) => {
        const caFile = over.caFile ?? file("ca.crt");
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
