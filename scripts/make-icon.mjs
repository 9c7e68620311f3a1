#!/usr/bin/env node
// media/icon.png (the Marketplace icon, 128x128) from media/neftune.svg, the activity-bar icon:
// drawn white on a rounded square of the gallery banner's colour, rasterized by Chromium
// (playwright-core, Debian's /usr/bin/chromium; no image tools needed). Run it again when the
// SVG changes: `node scripts/make-icon.mjs`. The PNG is committed.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const BACKGROUND = '#1d3b53'; // = package.json galleryBanner.color
const svg = fs.readFileSync(path.join(REPO, 'media', 'neftune.svg'), 'utf8').replace(/width="24" height="24"/, 'width="100" height="100"');
const html = `<!doctype html><html><body style="margin:0;background:transparent">
<div style="width:128px;height:128px;border-radius:22px;background:${BACKGROUND};color:#fff;display:flex;align-items:center;justify-content:center">${svg}</div>
</body></html>`;

const browser = await chromium.launch({ executablePath: process.env.NEFTUNE_E2E_CHROMIUM ?? '/usr/bin/chromium', args: ['--no-sandbox', '--disable-gpu'] });
try {
  const page = await browser.newPage({ viewport: { width: 128, height: 128 }, deviceScaleFactor: 1 });
  await page.setContent(html);
  const out = path.join(REPO, 'media', 'icon.png');
  await page.screenshot({ path: out, omitBackground: true, clip: { x: 0, y: 0, width: 128, height: 128 } });
  console.log(`${path.relative(REPO, out)}: ${fs.statSync(out).size} bytes`);
} finally {
  await browser.close();
}
