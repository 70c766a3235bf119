/**
 * Screenshot a report.html in headless Chromium (Debian's `chromium` package, driven by
 * puppeteer-core; browsers cannot be downloaded here), to check that its charts render.
 *
 *   node --import tsx scripts/screenshot-report.ts reports/<run-id>/report.html [out.png]
 *
 * Default output: report.png next to the HTML. The browser gets a new empty profile and no network:
 * every request other than the report file itself is aborted and counted, so a report that is not
 * self-contained shows up as `blockedRequests > 0`. Prints JSON: the PNG path, the page size, the
 * number of inline SVG charts and how many of them have a visible size.
 * Chromium: $CHROMIUM_PATH, else /usr/bin/chromium or /usr/bin/chromium-browser.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

export const CHROMIUM_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** The Chromium executable to use, or null when none is installed. */
export function findChromium(): string | null {
  const candidates = [process.env.CHROMIUM_PATH, '/usr/bin/chromium', '/usr/bin/chromium-browser'].filter((x): x is string => !!x);
  return candidates.find((c) => fs.existsSync(c)) ?? null;
}

export interface ScreenshotResult {
  png: string;
  width: number;
  height: number;
  /** Inline <svg> elements in the page. */
  charts: number;
  /** Of those, the ones with a rendered width and height > 0 and at least one drawn mark. */
  visibleCharts: number;
  /** Requests to anything but the report file (aborted). */
  blockedRequests: number;
}

/** Open `htmlPath` in headless Chromium and save a full-page PNG. */
export async function screenshotReport(htmlPath: string, pngPath?: string, opts: { width?: number; chromium?: string } = {}): Promise<ScreenshotResult> {
  const html = path.resolve(htmlPath);
  if (!fs.existsSync(html)) throw new Error(`report not found: ${html}`);
  const exe = opts.chromium ?? findChromium();
  if (!exe) throw new Error('no Chromium found: install Debian\'s chromium package (apt-get install -y chromium) or set CHROMIUM_PATH');
  const png = path.resolve(pngPath ?? path.join(path.dirname(html), 'report.png'));
  const { default: puppeteer } = await import('puppeteer-core');
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'unlearnkit-chromium-'));
  const browser = await puppeteer.launch({
    executablePath: exe,
    headless: true,
    userDataDir: profile,
    args: [...CHROMIUM_FLAGS, `--user-data-dir=${profile}`],
  });
  try {
    const page = await browser.newPage();
    await page.setViewport({ width: opts.width ?? 1280, height: 900 });
    const url = pathToFileURL(html).href;
    let blockedRequests = 0;
    await page.setRequestInterception(true);
    page.on('request', (req) => {
      if (req.url() === url || req.url().startsWith('data:')) void req.continue();
      else {
        blockedRequests++;
        void req.abort();
      }
    });
    await page.goto(url, { waitUntil: 'load' });
    const stats = await page.evaluate(() => {
      const svgs = Array.from(document.querySelectorAll('figure svg'));
      const visible = svgs.filter((s) => {
        const r = s.getBoundingClientRect();
        return r.width > 0 && r.height > 0 && s.querySelectorAll('path, rect, line, circle, text').length > 0;
      }).length;
      return { charts: svgs.length, visible, width: document.documentElement.scrollWidth, height: document.documentElement.scrollHeight };
    });
    fs.mkdirSync(path.dirname(png), { recursive: true });
    await page.screenshot({ path: png as `${string}.png`, fullPage: true });
    return { png, width: stats.width, height: stats.height, charts: stats.charts, visibleCharts: stats.visible, blockedRequests };
  } finally {
    await browser.close();
    fs.rmSync(profile, { recursive: true, force: true });
  }
}

const isMain = process.argv[1] !== undefined && /screenshot-report\.(ts|mjs|js)$/.test(process.argv[1]);
if (isMain) {
  const [html, png] = process.argv.slice(2);
  if (!html) {
    process.stderr.write('usage: node --import tsx scripts/screenshot-report.ts <report.html> [out.png]\n');
    process.exit(2);
  }
  screenshotReport(html, png).then(
    (r) => process.stdout.write(JSON.stringify(r, null, 2) + '\n'),
    (e: unknown) => {
      process.stderr.write(`screenshot-report: ${e instanceof Error ? e.message : String(e)}\n`);
      process.exit(1);
    },
  );
}
