// latchkey's own wording for each mail, as Mustache templates. The same names
// are available to an operator's templates (see templates.ts): user.username,
// user.email, link, url, uid, token (the three link mails), site_name, domain,
// protocol. `{{name}}` is HTML-escaped in the HTML part and left as it is in
// the subject and text parts.

export const MAIL_KINDS = [
  'activation',
  'confirmation',
  'password_reset',
  'password_changed_confirmation',
  'username_reset',
  'username_changed_confirmation',
] as const;

export type MailKind = (typeof MAIL_KINDS)[number];

/** The mails that carry a one-time link. */
export const LINK_KINDS = ['activation', 'password_reset', 'username_reset'] as const satisfies readonly MailKind[];

export interface MailTemplate {
  subject: string;
  text: string;
  html: string;
}

const FOOT_TEXT = `
--
{{site_name}} · {{protocol}}://{{domain}}/
`;

function page(title: string, body: string): string {
  return `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>${title}</title></head>
<body style="font-family: sans-serif; line-height: 1.5; color: #222; max-width: 36em; margin: 0 auto; padding: 1em;">
${body}
<hr style="border: 0; border-top: 1px solid #ddd; margin-top: 2em;">
<p style="color: #777; font-size: 0.9em;">{{site_name}} · <a href="{{protocol}}://{{domain}}/">{{domain}}</a></p>
</body>
</html>
`;
}

function button(label: string): string {
  return `<p><a href="{{link}}" style="display: inline-block; padding: 0.6em 1.2em; background: #1d4ed8; color: #fff; text-decoration: none; border-radius: 4px;">${label}</a></p>
<p style="font-size: 0.9em;">If the button does not work, paste this address into your browser:<br><a href="{{link}}">{{link}}</a></p>`;
}

export const DEFAULT_TEMPLATES: Record<MailKind, MailTemplate> = {
  activation: {
    subject: 'Confirm your new {{site_name}} account',
    text: `Hello {{user.username}},

An account on {{site_name}} was just opened with this address. To switch it on,
open this link:

{{link}}

The link works once and stops working after a few days. If you did not sign up,
ignore this message: the account stays switched off.
${FOOT_TEXT}`,
    html: page(
      'Confirm your new {{site_name}} account',
      `<p>Hello {{user.username}},</p>
<p>An account on {{site_name}} was just opened with this address. To switch it on, use the button below.</p>
${button('Switch my account on')}
<p>The link works once and stops working after a few days. If you did not sign up, ignore this message: the account stays switched off.</p>`,
    ),
  },
  confirmation: {
    subject: 'Your {{site_name}} account is ready',
    text: `Hello {{user.username}},

Your account on {{site_name}} is now switched on. You can sign in with your
username and password.
${FOOT_TEXT}`,
    html: page(
      'Your {{site_name}} account is ready',
      `<p>Hello {{user.username}},</p>
<p>Your account on {{site_name}} is now switched on. You can sign in with your username and password.</p>`,
    ),
  },
  password_reset: {
    subject: 'Choose a new password for {{site_name}}',
    text: `Hello {{user.username}},

Someone asked to choose a new password for your account on {{site_name}}.
If it was you, open this link and pick a new one:

{{link}}

The link works once and stops working after a few days. If you did not ask for
this, ignore this message: your password stays as it is.
${FOOT_TEXT}`,
    html: page(
      'Choose a new password for {{site_name}}',
      `<p>Hello {{user.username}},</p>
<p>Someone asked to choose a new password for your account on {{site_name}}. If it was you, use the button below to pick a new one.</p>
${button('Choose a new password')}
<p>The link works once and stops working after a few days. If you did not ask for this, ignore this message: your password stays as it is.</p>`,
    ),
  },
  password_changed_confirmation: {
    subject: 'Your {{site_name}} password was changed',
    text: `Hello {{user.username}},

The password of your account on {{site_name}} was just changed.

If you did this, there is nothing more to do. If you did not, reset your
password at once and tell the people who run {{site_name}}.
${FOOT_TEXT}`,
    html: page(
      'Your {{site_name}} password was changed',
      `<p>Hello {{user.username}},</p>
<p>The password of your account on {{site_name}} was just changed.</p>
<p>If you did this, there is nothing more to do. If you did not, reset your password at once and tell the people who run {{site_name}}.</p>`,
    ),
  },
  username_reset: {
    subject: 'Choose a new username for {{site_name}}',
    text: `Hello {{user.username}},

Someone asked to choose a new username for your account on {{site_name}}.
If it was you, open this link and pick a new one:

{{link}}

The link works once and stops working after a few days. If you did not ask for
this, ignore this message: your username stays as it is.
${FOOT_TEXT}`,
    html: page(
      'Choose a new username for {{site_name}}',
      `<p>Hello {{user.username}},</p>
<p>Someone asked to choose a new username for your account on {{site_name}}. If it was you, use the button below to pick a new one.</p>
${button('Choose a new username')}
<p>The link works once and stops working after a few days. If you did not ask for this, ignore this message: your username stays as it is.</p>`,
    ),
  },
  username_changed_confirmation: {
    subject: 'Your {{site_name}} username was changed',
    text: `Hello {{user.username}},

The username of your account on {{site_name}} is now "{{user.username}}".

If you did not make this change, tell the people who run {{site_name}} at once.
${FOOT_TEXT}`,
    html: page(
      'Your {{site_name}} username was changed',
      `<p>Hello {{user.username}},</p>
<p>The username of your account on {{site_name}} is now <strong>{{user.username}}</strong>.</p>
<p>If you did not make this change, tell the people who run {{site_name}} at once.</p>`,
    ),
  },
};
