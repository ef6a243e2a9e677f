// The pieces a settings table is written with: value schemas and the row
// constructor. src/config.ts is the table; src/config-mail.ts the mail rows.
import { z } from 'zod';
import { parseLimit, type Limit } from './throttle.js';

export const bool = z
  .string()
  .trim()
  .toLowerCase()
  .refine((v) => ['1', '0', 'true', 'false', 'on', 'off', 'yes', 'no'].includes(v), {
    message: 'must be one of on/off, true/false, 1/0, yes/no',
  })
  .transform((v) => ['1', 'true', 'on', 'yes'].includes(v));

export const seconds = z.coerce
  .number({ message: 'must be a number of seconds' })
  .int('must be a whole number of seconds')
  .positive('must be positive');

/** A whole number in [min, max]; `message`, when given, is the one answer to every way of missing it. */
export const int = (min: number, max: number, message?: string) =>
  z.coerce
    .number({ message: message ?? 'must be a number' })
    .int(message ?? 'must be a whole number')
    .min(min, message)
    .max(max, message);

/** A limit written as POINTS/SECONDS, e.g. 10/300. */
export function limit(fallback: Limit) {
  return z
    .string()
    .optional()
    .transform((v, ctx) => {
      if (v === undefined || v === '') return { ...fallback };
      const parsed = parseLimit(v);
      if (!parsed) ctx.addIssue({ code: 'custom', message: 'must be POINTS/SECONDS, such as 10/300' });
      return parsed ?? { ...fallback };
    });
}

export const showLimit = (l: Limit) => `\`${l.points}/${l.duration}\``;

/** What the settings resolved before this one, by Config key (a row may read an earlier row). */
export type Done = Readonly<Record<string, unknown>>;

export interface Setting<E extends string, K extends string, R> {
  /** The environment variable. */
  readonly env: E;
  /** Where the value goes in Config; `a.b` for a nested key. */
  readonly key: K;
  readonly schema: z.ZodType;
  /** Turns the parsed value into the Config value (default: as parsed). */
  readonly resolve: (value: unknown, done: Done) => R;
  /** The default as README shows it; default: the schema's default, or `none`. */
  readonly shown: string | undefined;
  /** One line for README's table. */
  readonly meaning: string;
}

export function setting<const E extends string, const K extends string, S extends z.ZodType, R = z.output<S>>(row: {
  env: E;
  key: K;
  schema: S;
  resolve?: (value: z.output<S>, done: Done) => R;
  shown?: string;
  meaning: string;
}): Setting<E, K, R> {
  const resolve = row.resolve ?? ((v: z.output<S>) => v as R);
  return { ...row, resolve: resolve as (value: unknown, done: Done) => R, shown: row.shown };
}
