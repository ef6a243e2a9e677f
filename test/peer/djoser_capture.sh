#!/bin/sh
# Re-runs the djoser peer capture: a fresh peer on a fresh SQLite file and SMTP sink, then test/peer/djoser_capture.py.
# Usage: test/peer/djoser_capture.sh  (from the repository root; ports: PEER_PORT=18501, SMTP_PORT=18525)
# Needs Debian's python3-djoser, python3-aiosmtpd and gunicorn, and ../shared/peers/djoser/refsite.py.
set -eu
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
PEER_DIR=${PEER_DIR:-/work/shared/peers/djoser}
PEER_PORT=${PEER_PORT:-18501}
SMTP_PORT=${SMTP_PORT:-18525}
WORK=$(mktemp -d /tmp/djoserpeer-XXXXXX)
export REF_DB="$WORK/db.sqlite3" REF_SIGNING_KEY=shared-test-signing-key-0123456789abcdef REF_SMTP_PORT="$SMTP_PORT"
SMTP_PID= GUNICORN_PID=
cleanup() {
  [ -n "$GUNICORN_PID" ] && kill "$GUNICORN_PID" 2>/dev/null || true
  [ -n "$SMTP_PID" ] && kill "$SMTP_PID" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT INT TERM
cd "$PEER_DIR"
/usr/bin/python3 refsite.py migrate >"$WORK/migrate.log" 2>&1
/usr/bin/python3 refsite.py adduser admin 'pw-admin-123' admin@example.com staff >/dev/null
/usr/bin/python3 -m aiosmtpd -n -l "127.0.0.1:$SMTP_PORT" -c aiosmtpd.handlers.Mailbox "$WORK/mail" >"$WORK/smtp.log" 2>&1 &
SMTP_PID=$!
gunicorn -w 1 -b "127.0.0.1:$PEER_PORT" refsite:application >"$WORK/gunicorn.log" 2>&1 &
GUNICORN_PID=$!
i=0
until curl -s -o /dev/null "http://127.0.0.1:$PEER_PORT/auth/users/"; do
  i=$((i + 1)); [ $i -gt 100 ] && { cat "$WORK/gunicorn.log"; exit 1; }; sleep 0.2
done
while [ ! -d "$WORK/mail/new" ]; do sleep 0.1; done
cd "$ROOT"
PEER_URL="http://127.0.0.1:$PEER_PORT" PEER_MAILDIR="$WORK/mail" OUT="$ROOT/test/fixtures/djoser-peer.json" \
  /usr/bin/python3 test/peer/djoser_capture.py
