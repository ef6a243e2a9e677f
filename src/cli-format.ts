// Output helpers of the command line (src/cli.ts, src/mail/cli.ts): tables,
// JSON and cut-short cells, with whatever came from outside made harmless to a terminal.

/**
 * Control characters (and bidi overrides) shown as \u{...}: a user agent is
 * whatever a client sent, and must not drive the operator's terminal.
 */
export const printable = (v: string) => v.replace(/[\p{Cc}\u202a-\u202e\u2066-\u2069]/gu, (c) => `\\u{${c.codePointAt(0)!.toString(16)}}`);

/** JSON for --json; C1 controls, which JSON.stringify leaves raw, are escaped too. */
export const json = (value: unknown) =>
  JSON.stringify(value, null, 2).replace(
    /[\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );

/** Columns padded to their widest cell, two spaces apart. */
export function table(headers: string[], rows: string[][]): string {
  const cells = rows.map((r) => r.map(printable));
  const widths = headers.map((h, i) => Math.max(h.length, ...cells.map((r) => r[i]!.length)));
  const line = (r: string[]) =>
    r
      .map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(headers), ...cells.map(line)].join('\n');
}

export const yesNo = (b: boolean) => (b ? 'yes' : 'no');
export const cut = (v: string, n: number) => (v.length > n ? `${v.slice(0, n - 1)}…` : v);
