// Debian's Chromium (/usr/bin/chromium, or $CHROMIUM) under playwright-core, no bundled browser, with the options
// every driver of the dashboard starts it with: the browser tests (drive.mjs) and the page benchmark
// (bench/dashboard.mjs), so both measure and test the same browser.
import { chromium } from "playwright-core";

export function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    args: [
      "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync",
    ],
  });
}
