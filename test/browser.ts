// Debian's Chromium for the browser suites, driven by playwright-core: where
// it lives, whether a suite can run, and one launch with the same arguments.
import fs from 'node:fs';
import { chromium, type Browser } from 'playwright-core';
import { skipUnless } from './helpers.js';

export const CHROMIUM = '/usr/bin/chromium';

/**
 * Headless, and quiet: this machine may have no internet, and without these
 * Chromium keeps calling Google's services (sync, component updates, ...).
 * Playwright gives each launch a fresh, temporary user data directory.
 */
const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];

/** The suite's skip reason when Chromium is absent (a failure under CI, which installs it). */
export const skipWithoutChromium = (suite: string) =>
  skipUnless(fs.existsSync(CHROMIUM) ? false : `${CHROMIUM} is absent (Debian's chromium package; .ci/run installs it)`, suite);

export const launchChromium = (): Promise<Browser> =>
  chromium.launch({ executablePath: CHROMIUM, headless: true, args: ARGS, timeout: 20_000 });
