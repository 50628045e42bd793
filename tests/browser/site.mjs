// A person's path through the built site, in headless Chromium: open the home page, search for
// a model, open it, reach its latest version, see the metric chart. Fails on any console error,
// page error or failed request. Screenshots of the home, version and compare pages go to OUT.
//
// usage: node site.mjs BASE_URL OUT_DIR
import { chromium } from "playwright-core";
import { mkdirSync } from "node:fs";

const [base, out] = process.argv.slice(2);
mkdirSync(out, { recursive: true });
const problems = [];
const browser = await chromium.launch({
  executablePath: "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"],
});
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  page.on("console", (m) => { if (m.type() === "error" || m.type() === "warning") problems.push(`console ${m.type()}: ${m.text()}`); });
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  page.on("requestfailed", (r) => problems.push(`request failed: ${r.url()} ${r.failure()?.errorText}`));
  page.on("response", (r) => { if (r.status() >= 400) problems.push(`HTTP ${r.status()}: ${r.url()}`); });

  await page.goto(base + "index.html");
  await page.screenshot({ path: `${out}/home.png`, fullPage: true });
  await page.fill("form.filters input[name=q]", "credit");
  const hit = page.locator("#results a", { hasText: "models/credit-default" });
  await hit.waitFor({ timeout: 10000 });
  const count = await page.locator("#results li").count();
  await hit.click();
  await page.waitForURL("**/models/credit-default/index.html");
  await page.locator("dl.facts a").filter({ hasText: "3" }).first().click();
  await page.waitForURL("**/models/credit-default/3/index.html");
  const charts = await page.locator("svg.chart").count();
  let shown = 0;
  const lineage = await page.locator("svg.lineage").count();
  if (charts < 1) problems.push("no chart on the version page");
  if (lineage !== 1) problems.push("no lineage graph on the version page");
  await page.locator("svg.chart").first().scrollIntoViewIfNeeded();
  await page.screenshot({ path: `${out}/version.png`, fullPage: true });
  await page.goto(base + "compare/models/credit-default.html");
  // Pick two versions: only their columns stay.
  await page.selectOption("form[data-compare] select[name=b]", "0");
  shown = await page.locator("table.compare thead th[data-col]:not([hidden])").count();
  if (shown !== 2) problems.push(`compare shows ${shown} columns after picking two`);
  await page.screenshot({ path: `${out}/compare.png`, fullPage: true });
  // Dark mode renders too.
  await page.emulateMedia({ colorScheme: "dark" });
  await page.goto(base + "models/credit-default/3/index.html");
  await page.screenshot({ path: `${out}/version-dark.png`, fullPage: true });
  console.log(JSON.stringify({ results: count, charts, lineage, compared: shown, problems }));
} finally {
  await browser.close();
}
process.exit(problems.length ? 1 : 0);
