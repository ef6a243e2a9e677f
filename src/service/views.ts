// How users and sessions are shown: DRF's field names and datetime format.
import type { SessionRecord, UserRecord } from '../storage/types.js';
import { userView } from '../users/fields.js';
import type { Profile, SessionView } from './types.js';

/** Seconds since the epoch as DRF writes a UTC datetime: 2024-05-17T09:30:00Z. */
export const isoTime = (seconds: number): string => new Date(seconds * 1000).toISOString().replace('.000Z', 'Z');

export function profileOf(u: UserRecord): Profile {
  return userView(u, isoTime);
}

export function sessionOf(s: SessionRecord): SessionView {
  return {
    id: s.id,
    created_at: isoTime(s.createdAt),
    last_used_at: isoTime(s.lastUsedAt),
    user_agent: s.userAgent,
    ip_address: s.address,
  };
}
