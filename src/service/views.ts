// How users and sessions are shown: DRF's field names and datetime format.
import type { SessionRecord, UserRecord } from '../storage/types.js';
import type { Profile, SessionView } from './types.js';

/** Seconds since the epoch as DRF writes a UTC datetime: 2024-05-17T09:30:00Z. */
export const isoTime = (seconds: number): string => new Date(seconds * 1000).toISOString().replace('.000Z', 'Z');

export function profileOf(u: UserRecord): Profile {
  return {
    id: u.id,
    username: u.username,
    email: u.email,
    phone_number: u.phone_number,
    first_name: u.first_name,
    last_name: u.last_name,
    address: u.address,
    postal_code: u.postal_code,
    birthdate: u.birthdate,
    profile_image: u.profile_image,
    is_active: u.is_active,
    is_staff: u.is_staff,
    is_superuser: u.is_superuser,
    date_joined: isoTime(u.date_joined),
    last_login: u.last_login === null ? null : isoTime(u.last_login),
  };
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
