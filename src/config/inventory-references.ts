/**
 * The inventory's checks across entries: duplicate credential ids, two credentials sharing one
 * secret, and alert route names that no route defines. They read the raw document, not the
 * schema's output, because zod skips a refinement of the whole once any field in it has failed,
 * and `check-config` promises every problem at once.
 *
 * Must not: judge a field's own shape (the schema does), or throw on any input.
 */

export interface Problem {
  path: Array<string | number>;
  message: string;
}

type Raw = Record<string, unknown>;
const isObject = (v: unknown): v is Raw => typeof v === "object" && v !== null && !Array.isArray(v);
const names = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);

export function crossReferenceProblems(raw: unknown): Problem[] {
  if (!isObject(raw) || !Array.isArray(raw.credentials)) return [];
  const routes = isObject(raw.alertRoutes) ? raw.alertRoutes : {};
  const problems: Problem[] = [];
  const firstWith = { id: new Map<string, number>(), secretId: new Map<string, number>() };
  raw.credentials.forEach((c: unknown, i) => {
    if (!isObject(c)) return;
    for (const field of ["id", "secretId"] as const) {
      const value = c[field];
      if (typeof value !== "string") continue;
      const first = firstWith[field].get(value);
      if (first === undefined) firstWith[field].set(value, i);
      else
        problems.push({
          path: ["credentials", i, field],
          message: `duplicate ${field === "id" ? "credential id" : "secretId"} "${value}" (also credentials[${first}])`,
        });
    }
    const check = (list: unknown, path: Array<string | number>) =>
      names(list).forEach((name, j) => {
        if (typeof name === "string" && !Object.hasOwn(routes, name)) {
          problems.push({
            path: ["credentials", i, ...path, j],
            message: `unknown alert route "${name}" (define it under alertRoutes)`,
          });
        }
      });
    const alerts = isObject(c.alerts) ? c.alerts : {};
    check(alerts.warning, ["alerts", "warning"]);
    check(alerts.critical, ["alerts", "critical"]);
    if (isObject(c.operator)) check(c.operator.escalateTo, ["operator", "escalateTo"]);
  });
  return problems;
}
