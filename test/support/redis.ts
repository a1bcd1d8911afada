/** Real Redis for tests: REDIS_URL or 127.0.0.1:6379, and a fresh queue prefix per test. */
import { randomBytes } from "node:crypto";
import type { Redis } from "ioredis";
import { connectRedis, redisUrlFrom } from "../../src/queue/redis.js";

export const REDIS_URL = redisUrlFrom();

export function testPrefix(name = "t"): string {
  return `{kr-test-${name}-${randomBytes(4).toString("hex")}}`;
}

export function testRedis(): Redis {
  return connectRedis(REDIS_URL);
}

export { dropPrefix } from "../../src/queue/redis.js";
