// Renders the app icons (www/icons/*.png) from SVG with headless Chromium, so the PNGs a
// tablet's home screen needs are reproducible without an image toolchain. Run after changing
// www/icons/icon.svg or the maskable mark below:
//
//   node tests/tools/render-icons.mjs

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { launchBrowser } from '../harness/browser.mjs';
import { ROOT } from '../harness/server.mjs';

const ICONS = join(ROOT, 'www', 'icons');
const ICON_SVG = readFileSync(join(ICONS, 'icon.svg'), 'utf8');

// Full bleed: launchers cut their own shape, so the mark stays inside the central 80 % circle.
const MASKABLE_SVG = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 512 512">
  <rect width="512" height="512" fill="#16324f"/>
  <rect x="146" y="146" width="220" height="220" rx="28" fill="#ffffff"/>
  <path d="M196 262l40 40 82-92" fill="none" stroke="#16324f" stroke-width="34" stroke-linecap="round" stroke-linejoin="round"/>
</svg>`;

// iOS puts its own rounded mask on a square, opaque icon.
const APPLE_SVG = MASKABLE_SVG.replace('x="146" y="146" width="220" height="220"', 'x="112" y="112" width="288" height="288"')
  .replace('M196 262l40 40 82-92', 'M176 262l54 54 110-124')
  .replace('stroke-width="34"', 'stroke-width="44"');

const OUTPUTS = [
  { file: 'icon-192.png', svg: ICON_SVG, size: 192 },
  { file: 'icon-512.png', svg: ICON_SVG, size: 512 },
  { file: 'icon-maskable-512.png', svg: MASKABLE_SVG, size: 512 },
  { file: 'apple-touch-icon.png', svg: APPLE_SVG, size: 180 },
];

const browser = await launchBrowser();
try {
  const page = await browser.newPage();
  for (const { file, svg, size } of OUTPUTS) {
    await page.setViewportSize({ width: size, height: size });
    const source = `data:image/svg+xml;base64,${Buffer.from(svg).toString('base64')}`;
    await page.setContent(
      `<html><body style="margin:0;background:transparent"><img src="${source}" width="${size}" height="${size}" style="display:block"></body></html>`,
    );
    await page.locator('img').evaluate((img) => img.decode());
    await page.screenshot({ path: join(ICONS, file), omitBackground: true, clip: { x: 0, y: 0, width: size, height: size } });
    console.log(`www/icons/${file} (${size}×${size})`);
  }
} finally {
  await browser.close();
}
