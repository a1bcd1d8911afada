/**
 * The pure parts of the image test (test/image/image-test.ts), apart so unit tests can show they
 * catch what they exist for: how the container is run (as the Helm chart runs the pod), and which
 * files in the image should not be there.
 */

/** `podman run` arguments that mirror the chart's pod: read-only root, uid 1000, no capabilities. */
export function podmanRunArgs(o: {
  name: string;
  image: string;
  env: Record<string, string>;
  ulimits: string[];
  /** Mounted read-only at /etc/key-rotator/config (the chart's inventory ConfigMap). */
  config: string;
  /** Mounted read-only at /var/run/secrets/key-rotator (the chart's Secret volumes). */
  secrets: string;
  uid: number;
}): string[] {
  return [
    "run",
    "--name",
    o.name,
    "--rm",
    "--network",
    "host",
    "--read-only",
    "--read-only-tmpfs=false",
    "--tmpfs",
    "/tmp:rw,size=16m,mode=1777",
    "--user",
    `${o.uid}:${o.uid}`,
    "--cap-drop",
    "ALL",
    "--security-opt",
    "no-new-privileges",
    ...o.ulimits,
    "--volume",
    `${o.config}:/etc/key-rotator/config:ro`,
    "--volume",
    `${o.secrets}:/var/run/secrets/key-rotator:ro`,
    ...Object.entries(o.env).flatMap(([k, v]) => ["--env", `${k}=${v}`]),
    o.image,
  ];
}

/**
 * What the image's /app should not hold, from a listing: lines `nm:<entry>` for each entry of
 * node_modules (scoped packages as `nm:@scope/name` or `nm:name` under a `node_modules/@scope:`
 * header, as `ls -1` prints them) and the paths of every other file under /app.
 */
export function unexpectedFiles(listing: string, devDependencies: string[]): string[] {
  const installed = new Set<string>();
  let scope = "";
  for (const raw of listing.split("\n")) {
    if (!raw.startsWith("nm:")) continue;
    const line = raw.slice(3).trim();
    const header = /^node_modules\/(@[^/:]+):$/.exec(line);
    if (header) {
      scope = header[1] ?? "";
      continue;
    }
    if (line === "" || line.endsWith(":")) {
      scope = "";
      continue;
    }
    installed.add(scope ? `${scope}/${line}` : line);
  }
  const problems = devDependencies.filter((d) => installed.has(d)).map((d) => `devDependency ${d} is installed`);
  for (const raw of listing.split("\n")) {
    const path = raw.trim();
    if (path === "" || raw.startsWith("nm:")) continue;
    if (/\.(ts|tsx|mts|cts)$/.test(path) && !/\.d\.[mc]?ts$/.test(path)) problems.push(`TypeScript source ${path}`);
    else if (/^\.\/(src|test|bench|scripts|helm)\//.test(path)) problems.push(`source file ${path}`);
    else if (/^\.\/tsconfig[^/]*\.json$/.test(path)) problems.push(`build file ${path}`);
  }
  return problems;
}
