// A real browser for the interactive SVG: Debian's chromium, headless, driven through
// the DevTools protocol by puppeteer-core (no browser download: PUPPETEER_SKIP_DOWNLOAD).
// Each launch gets a fresh profile directory, removed on close.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import puppeteer, { type Browser } from 'puppeteer-core';
import { isRoot, requireOrSkip } from './requirements.js';

export const CHROMIUM = process.env.HVSCOPE_CHROMIUM ?? '/usr/bin/chromium';

/** Skip reason when chromium is missing (fails in CI). */
export const noChromium = requireOrSkip(existsSync(CHROMIUM), `chromium at ${CHROMIUM} (apt-get install -y chromium)`);

export interface Chromium {
  browser: Browser;
  close(): Promise<void>;
}

export async function launchChromium(): Promise<Chromium> {
  const profile = mkdtempSync(join(tmpdir(), 'hvscope-chromium-'));
  const browser = await puppeteer.launch({
    executablePath: CHROMIUM,
    headless: true,
    timeout: 60_000,
    args: [
      ...(isRoot ? ['--no-sandbox'] : []),
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
      `--user-data-dir=${profile}`,
    ],
  });
  return {
    browser,
    async close() {
      try {
        await browser.close();
      } finally {
        rmSync(profile, { recursive: true, force: true });
      }
    },
  };
}
