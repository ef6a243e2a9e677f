// Mail templates: latchkey's defaults, or an operator's files from a folder
// (LATCHKEY_MAIL_TEMPLATES_DIR) named `<kind>.subject.txt`, `<kind>.txt` and
// `<kind>.html`. A missing file falls back to the default; every file present
// is parsed at start, and a bad one stops startup with an error naming it.
// Templates are Mustache: `{{name}}` is HTML-escaped in the HTML part only.
import fs from 'node:fs';
import path from 'node:path';
import Mustache from 'mustache';
import { ConfigError } from '../errors.js';
import { DEFAULT_TEMPLATES, LINK_KINDS, MAIL_KINDS, type MailKind, type MailTemplate } from './default-templates.js';

export { MAIL_KINDS, type MailKind, type MailTemplate } from './default-templates.js';

/** What a template sees. `link`, `url`, `uid` and `token` are set for the link mails only. */
export interface MailContext {
  user: { username: string; email: string };
  site_name: string;
  domain: string;
  protocol: string;
  link?: string;
  url?: string;
  uid?: string;
  token?: string;
}

export interface RenderedMail {
  subject: string;
  text: string;
  html: string;
}

type Part = keyof MailTemplate;
const PARTS: readonly Part[] = ['subject', 'text', 'html'];
const SUFFIX: Record<Part, string> = { subject: '.subject.txt', text: '.txt', html: '.html' };

const COMMON_NAMES = ['user', 'user.username', 'user.email', 'site_name', 'domain', 'protocol'];
const LINK_NAMES = ['link', 'url', 'uid', 'token'];

/** Largest template file accepted, in bytes. */
const MAX_TEMPLATE_BYTES = 256 * 1024;

const identity = (s: string) => s;

export class MailTemplates {
  private constructor(
    private readonly templates: Record<MailKind, MailTemplate>,
    /** Which kinds/parts came from the operator's folder, for the start-up log. */
    readonly overridden: readonly string[],
  ) {}

  /** The defaults, with any files found in `dir` in their place. Throws ConfigError. */
  static load(dir?: string): MailTemplates {
    const templates = { ...DEFAULT_TEMPLATES };
    const overridden: string[] = [];
    if (dir !== undefined && dir !== '') {
      let entries: string[];
      try {
        entries = fs.readdirSync(dir);
      } catch (err) {
        throw new ConfigError(
          `LATCHKEY_MAIL_TEMPLATES_DIR: cannot read folder ${dir}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
        );
      }
      const known = new Map<string, [MailKind, Part]>();
      for (const kind of MAIL_KINDS) for (const part of PARTS) known.set(kind + SUFFIX[part], [kind, part]);
      for (const name of entries.sort()) {
        if (!name.endsWith('.txt') && !name.endsWith('.html')) continue;
        const file = path.join(dir, name);
        const target = known.get(name);
        if (target === undefined) {
          throw new ConfigError(
            `mail template ${file}: unknown file name; expected <kind>.subject.txt, <kind>.txt or <kind>.html with kind one of ${MAIL_KINDS.join(', ')}`,
          );
        }
        const [kind, part] = target;
        const source = readTemplate(file);
        checkTemplate(file, source, kind);
        templates[kind] = { ...templates[kind], [part]: source };
        overridden.push(name);
      }
    }
    return new MailTemplates(templates, overridden);
  }

  render(kind: MailKind, ctx: MailContext): RenderedMail {
    const t = this.templates[kind];
    if (t === undefined) throw new TypeError(`unknown mail kind ${String(kind)}`);
    const view = { ...ctx, user: { username: ctx.user.username, email: ctx.user.email } };
    const subject = Mustache.render(t.subject, view, undefined, { escape: identity })
      // One header line: CR/LF or tabs from a username or a multi-line file become spaces.
      .replace(/\s+/g, ' ')
      .trim();
    const text = Mustache.render(t.text, view, undefined, { escape: identity });
    const html = Mustache.render(t.html, view, undefined, { escape: escapeHtml });
    return { subject, text, html };
  }
}

function readTemplate(file: string): string {
  let buf: Buffer;
  try {
    const stat = fs.statSync(file);
    if (!stat.isFile()) throw new ConfigError(`mail template ${file}: not a regular file`);
    if (stat.size > MAX_TEMPLATE_BYTES) throw new ConfigError(`mail template ${file}: larger than ${MAX_TEMPLATE_BYTES} bytes`);
    buf = fs.readFileSync(file);
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    throw new ConfigError(`mail template ${file}: cannot read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(buf);
  } catch {
    throw new ConfigError(`mail template ${file}: not valid UTF-8`);
  }
  return text.replace(/^\uFEFF/, '');
}

/** Parses the template and refuses names it could never be given, so a typo stops startup. */
function checkTemplate(file: string, source: string, kind: MailKind): void {
  let spans: Mustache.TemplateSpans;
  try {
    spans = Mustache.parse(source);
  } catch (err) {
    throw new ConfigError(`mail template ${file}: ${(err as Error).message}`);
  }
  const allowed = new Set([...COMMON_NAMES, ...((LINK_KINDS as readonly MailKind[]).includes(kind) ? LINK_NAMES : [])]);
  const walk = (list: Mustache.TemplateSpans): void => {
    for (const span of list) {
      const [type, name] = span;
      if (type === '>') throw new ConfigError(`mail template ${file}: partials ({{> ${name}}}) are not supported`);
      if (type === 'name' || type === '&' || type === '#' || type === '^') {
        if (name !== '.' && !allowed.has(name)) {
          throw new ConfigError(
            `mail template ${file}: unknown name {{${name}}}; this mail knows ${[...allowed].filter((n) => n !== 'user').join(', ')}`,
          );
        }
      }
      const children = span[4];
      if (Array.isArray(children)) walk(children as Mustache.TemplateSpans);
    }
  };
  walk(spans);
}

const HTML_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

function escapeHtml(value: unknown): string {
  return String(value).replace(/[&<>"']/g, (c) => HTML_ESCAPES[c]!);
}
