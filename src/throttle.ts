// Brute-force and abuse limits, on rate-limiter-flexible: in memory for one
// instance, in Redis when LATCHKEY_REDIS_URL is set so that the limits hold
// across instances (with the memory limiter as insurance if Redis goes away).
//
// Login failures are counted per account and per client address; a blocked
// account or address is refused before any password hashing, even with the
// right password. Refresh, verify and register are limited per address.
//
// Memory stays bounded: the address limiter is checked first, so one address
// creates at most `loginAddress.points` account keys per window; addresses come
// from the socket unless a configured proxy vouches for X-Forwarded-For; and
// IPv6 clients are counted per /64, the smallest block a host is given.
import ipaddr from 'ipaddr.js';
import type { Redis } from 'ioredis';
import { RateLimiterCluster, RateLimiterMemory, RateLimiterRedis, RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible';
import { ApiError } from './errors.js';

export interface Limit {
  points: number;
  /** Window in seconds. */
  duration: number;
}

export type LimitName = 'loginAccount' | 'loginAddress' | 'refresh' | 'verify' | 'register' | 'linkAddress' | 'linkAccount';
export type Limits = Record<LimitName, Limit>;

export const DEFAULT_LIMITS: Limits = {
  loginAccount: { points: 10, duration: 300 },
  loginAddress: { points: 50, duration: 300 },
  refresh: { points: 600, duration: 60 },
  verify: { points: 3000, duration: 60 },
  register: { points: 20, duration: 3600 },
  linkAddress: { points: 100, duration: 3600 },
  linkAccount: { points: 10, duration: 3600 },
};

/** Parses "POINTS/SECONDS", e.g. "10/300". */
export function parseLimit(text: string): Limit | undefined {
  const m = /^\s*(\d+)\s*\/\s*(\d+)\s*$/.exec(text);
  if (!m) return undefined;
  const points = Number(m[1]);
  const duration = Number(m[2]);
  return points > 0 && duration > 0 ? { points, duration } : undefined;
}

/** The key a client address is counted under: IPv4 as is, IPv6 by its /64. */
export function addressKey(address: string): string {
  try {
    let ip = ipaddr.parse(address);
    if (ip.kind() === 'ipv6' && (ip as ipaddr.IPv6).isIPv4MappedAddress()) ip = (ip as ipaddr.IPv6).toIPv4Address();
    if (ip.kind() === 'ipv4') return ip.toString();
    const parts = (ip as ipaddr.IPv6).parts.slice(0, 4);
    return `${parts.map((p) => p.toString(16)).join(':')}::/64`;
  } catch {
    return address;
  }
}

const throttled = (ms: number) => {
  const wait = Math.max(1, Math.ceil(ms / 1000));
  return new ApiError('throttled', `Request was throttled. Expected available in ${wait} second${wait === 1 ? '' : 's'}.`, {
    retryAfter: wait,
  });
};

export interface Throttle {
  /** Refuses (429) a login from a blocked address or for a blocked account. */
  beforeLogin(address: string, account: string): Promise<void>;
  /** Counts a failed login against the address and the account. */
  loginFailed(address: string, account: string): Promise<void>;
  /** A correct password clears the account's failure count. */
  loginSucceeded(account: string): Promise<void>;
  /** Counts one request of a limited kind from an address; refuses (429) past the limit. */
  hit(kind: 'refresh' | 'verify' | 'register' | 'linkAddress', address: string): Promise<void>;
  /**
   * Counts one request that mails a one-time link to an address (reset,
   * resend), keyed by the email address asked for, whether or not an account
   * holds it; refuses (429) past the limit.
   */
  hitAccount(kind: 'linkAccount', key: string): Promise<void>;
}

/** No limits at all (LATCHKEY_LOGIN_THROTTLE=off). */
export const NO_THROTTLE: Throttle = {
  beforeLogin: async () => {},
  loginFailed: async () => {},
  loginSucceeded: async () => {},
  hit: async () => {},
  hitAccount: async () => {},
};

/**
 * Where the counters live: `local` in this process; `cluster` in the cluster
 * primary, shared by its workers over IPC. With Redis they live there, and the
 * local or cluster counters are the fallback while Redis is unreachable.
 */
export type ThrottleMode = 'local' | 'cluster';

export function createThrottle(limits: Limits, opts: { mode?: ThrottleMode; redis?: Redis | undefined } = {}): Throttle {
  const { redis, mode = 'local' } = opts;
  const make = (name: LimitName): RateLimiterAbstract => {
    const { points, duration } = limits[name];
    const keyPrefix = `latchkey:throttle:${name}`;
    const memory =
      mode === 'cluster'
        ? new RateLimiterCluster({ points, duration, keyPrefix, timeoutMs: 3000 })
        : new RateLimiterMemory({ points, duration, keyPrefix });
    if (!redis) return memory;
    return new RateLimiterRedis({
      storeClient: redis,
      points,
      duration,
      keyPrefix,
      rejectIfRedisNotReady: true,
      // If Redis is unreachable, each instance keeps limiting on its own.
      insuranceLimiter: memory,
    });
  };
  const l = Object.fromEntries((Object.keys(limits) as LimitName[]).map((n) => [n, make(n)])) as Record<LimitName, RateLimiterAbstract>;

  const blockedFor = async (limiter: RateLimiterAbstract, key: string): Promise<number> => {
    const res = await limiter.get(key);
    return res && res.consumedPoints >= limiter.points ? res.msBeforeNext : 0;
  };
  const consume = async (limiter: RateLimiterAbstract, key: string) => {
    try {
      await limiter.consume(key);
    } catch (err) {
      if (err instanceof RateLimiterRes) throw throttled(err.msBeforeNext);
      throw err;
    }
  };
  const penalize = async (limiter: RateLimiterAbstract, key: string) => {
    try {
      await limiter.penalty(key);
    } catch (err) {
      if (!(err instanceof RateLimiterRes)) throw err;
    }
  };

  return {
    async beforeLogin(address, account) {
      const ip = addressKey(address);
      const ms = Math.max(await blockedFor(l.loginAddress, ip), await blockedFor(l.loginAccount, account));
      if (ms > 0) throw throttled(ms);
    },
    async loginFailed(address, account) {
      await Promise.all([penalize(l.loginAddress, addressKey(address)), penalize(l.loginAccount, account)]);
    },
    async loginSucceeded(account) {
      await l.loginAccount.delete(account);
    },
    hit: (kind, address) => consume(l[kind], addressKey(address)),
    hitAccount: (kind, key) => consume(l[kind], key),
  };
}
