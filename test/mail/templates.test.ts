import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { ConfigError } from '../../src/errors.js';
import { MAIL_KINDS, MailTemplates, type MailContext } from '../../src/mail/templates.js';
import { tempDir } from './helpers.js';

const ctx = (over: Partial<MailContext> = {}): MailContext => ({
  user: { username: 'ana', email: 'ana@example.com' },
  site_name: 'Example',
  domain: 'app.example.com',
  protocol: 'https',
  link: 'https://app.example.com/#/activate/NDI/abc-123',
  url: '#/activate/NDI/abc-123',
  uid: 'NDI',
  token: 'abc-123',
  ...over,
});

describe('mail templates', () => {
  it('render every kind with a subject, a text body and an HTML alternative', () => {
    const t = MailTemplates.load();
    for (const kind of MAIL_KINDS) {
      const m = t.render(kind, ctx());
      assert.ok(m.subject.length > 0 && !/[\r\n]/.test(m.subject), kind);
      assert.match(m.subject, /Example/);
      assert.match(m.text, /ana/);
      assert.match(m.html, /^<!doctype html>/);
      assert.match(m.html, /ana/);
      const hasLink = kind === 'activation' || kind === 'password_reset' || kind === 'username_reset';
      assert.equal(m.text.includes(ctx().link!), hasLink, `${kind} text link`);
      assert.equal(m.html.includes(`href="${ctx().link}"`), hasLink, `${kind} html link`);
    }
  });

  it('escapes interpolations in the HTML part only, and keeps the subject on one line', () => {
    const t = MailTemplates.load();
    const evil = ctx({ user: { username: '<b>"x"&\'y\'</b>', email: 'a@example.com' }, site_name: 'A\r\nBcc: x@evil.test' });
    const m = t.render('password_reset', evil);
    assert.ok(m.html.includes('&lt;b&gt;&quot;x&quot;&amp;&#39;y&#39;&lt;/b&gt;'));
    assert.ok(!m.html.includes('<b>"x"'));
    assert.ok(m.text.includes('<b>"x"&\'y\'</b>'));
    assert.equal(m.subject, 'Choose a new password for A Bcc: x@evil.test');
  });

  it('takes an operator folder: present files replace the defaults, missing ones fall back', () => {
    const dir = tempDir();
    try {
      fs.writeFileSync(path.join(dir, 'password_reset.subject.txt'), 'Reset at {{site_name}}\n');
      fs.writeFileSync(path.join(dir, 'password_reset.html'), '<p>Hi {{user.username}}, go to <a href="{{link}}">{{link}}</a></p>');
      fs.writeFileSync(path.join(dir, 'README.md'), 'not a template');
      const t = MailTemplates.load(dir);
      assert.deepEqual([...t.overridden], ['password_reset.html', 'password_reset.subject.txt']);
      const m = t.render('password_reset', ctx({ user: { username: 'a&b', email: 'x@example.com' } }));
      assert.equal(m.subject, 'Reset at Example');
      assert.equal(m.html, `<p>Hi a&amp;b, go to <a href="${ctx().link}">${ctx().link}</a></p>`);
      // The text part is still latchkey's default.
      assert.equal(m.text, MailTemplates.load().render('password_reset', ctx({ user: { username: 'a&b', email: 'x@example.com' } })).text);
      // Other kinds are untouched.
      assert.deepEqual(t.render('activation', ctx()), MailTemplates.load().render('activation', ctx()));
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('stops startup with an error naming the bad file', () => {
    const cases: Array<[string, string, RegExp]> = [
      ['activation.txt', 'Hello {{user.username}', /activation\.txt: Unclosed tag/],
      ['activation.html', '{{#link}}open{{/lnk}}', /activation\.html: Unclosed section/],
      ['activation.subject.txt', 'Hi {{usr.username}}', /activation\.subject\.txt: unknown name \{\{usr\.username\}\}/],
      ['confirmation.txt', 'Go to {{link}}', /confirmation\.txt: unknown name \{\{link\}\}/],
      ['activation.txt', '{{> footer}}', /activation\.txt: partials/],
      ['activaton.txt', 'x', /activaton\.txt: unknown file name/],
      ['password_reset.html', '\u00ff', /password_reset\.html: not valid UTF-8/],
    ];
    for (const [name, body, re] of cases) {
      const dir = tempDir();
      try {
        const file = path.join(dir, name);
        if (body === '\u00ff') fs.writeFileSync(file, Buffer.from([0xc3, 0x28]));
        else fs.writeFileSync(file, body);
        assert.throws(
          () => MailTemplates.load(dir),
          (e: Error) => e instanceof ConfigError && re.test(e.message) && e.message.includes(file),
          name,
        );
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    }
    assert.throws(
      () => MailTemplates.load('/nonexistent/latchkey-templates'),
      (e: Error) => e instanceof ConfigError && /LATCHKEY_MAIL_TEMPLATES_DIR.*ENOENT/.test(e.message),
    );
  });
});
