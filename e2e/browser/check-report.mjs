// Opens a godiag report.html from a file URL in Debian's headless Chromium and checks what a
// reader meets: no console error, no request beyond the file itself, the expected texts, every
// flame graph drawn and working (mouse, search, keyboard), and a full-page screenshot.
//
//   node check-report.mjs REPORT.html SCREENSHOT.png [EXPECTED_TEXT...]
//
// CHROMIUM overrides the browser (default /usr/bin/chromium). Prints one JSON line of figures;
// exits 1 with the reasons when a check fails.
import { chromium } from "playwright-core";
import { pathToFileURL } from "node:url";

const [file, shot, ...expected] = process.argv.slice(2);
if (!file || !shot) {
  console.error("usage: node check-report.mjs REPORT.html SCREENSHOT.png [EXPECTED_TEXT...]");
  process.exit(2);
}
const failures = [];
const check = (ok, what) => { if (!ok) failures.push(what); };

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-background-networking", "--disable-component-update", "--no-first-run"],
});
try {
  const context = await browser.newContext({ viewport: { width: 1366, height: 900 } });
  const page = await context.newPage();
  const errors = [];
  const requests = [];
  page.on("console", (m) => { if (m.type() === "error") errors.push(m.text()); });
  page.on("pageerror", (e) => errors.push(String(e)));
  context.on("request", (r) => requests.push(r.url()));
  page.on("dialog", (d) => d.accept(d.type() === "prompt" ? "main" : undefined));

  const url = pathToFileURL(file).href;
  const started = Date.now();
  await page.goto(url, { waitUntil: "load" });
  const loadMs = Date.now() - started;

  const body = await page.textContent("body");
  for (const text of expected) check(body.includes(text), `the page does not say ${JSON.stringify(text)}`);
  check((await page.locator("h1").count()) === 1, "the page has no single h1");

  const iframes = await page.locator("iframe.flame").count();
  const flames = page.frames().filter((f) => f !== page.mainFrame());
  check(iframes > 0, "no flame graph in the report");
  check(flames.length === iframes, `${iframes} flame graph frames, ${flames.length} loaded`);
  const titled = await page.locator("iframe.flame[title]").count();
  check(titled === iframes, "a flame graph frame has no title (its accessible name)");
  let drawn = 0;
  for (const f of flames) {
    try {
      await f.waitForFunction(
        () => typeof frames !== "undefined" && frames && document.querySelectorAll("#frames > g[tabindex]").length > 0,
        null,
        { timeout: 10000 },
      );
      drawn++;
    } catch (e) {
      failures.push(`flame graph ${f.name() || f.url()} was not initialised: ${e.message.split("\n")[0]}`);
    }
  }

  await page.screenshot({ path: shot, fullPage: true });

  // The first flame graph, as a reader uses it: a click zooms, Search highlights, and the same
  // with the keyboard alone (Tab to a frame, Enter zooms, Escape zooms out).
  if (flames.length > 0) {
    const f = flames[0];
    const unzoomHidden = () => f.evaluate(() => document.getElementById("unzoom").classList.contains("hide"));
    const deepest = f.locator("#frames > g").last();
    await deepest.click();
    check(!(await unzoomHidden()), "clicking a frame does not zoom");
    await f.evaluate(() => unzoom(true));
    await f.locator("#frames > g").last().focus();
    await f.locator("#frames > g").last().press("Enter");
    check(!(await unzoomHidden()), "Enter on a focused frame does not zoom");
    await f.locator("#frames > g").last().press("Escape");
    check(await unzoomHidden(), "Escape does not zoom out");
    await f.locator("#frames > g").first().press("Control+f");
    const matched = await f.evaluate(() => document.getElementById("matched").textContent);
    check(/Matched: [0-9.]+%/.test(matched), `Search (Ctrl-F, "main") matched nothing: ${JSON.stringify(matched)}`);
  }

  const outside = requests.filter((r) => r !== url && !r.startsWith("about:"));
  check(outside.length === 0, `the page made requests beyond itself: ${outside.slice(0, 5).join(", ")}`);
  check(errors.length === 0, `console errors: ${errors.slice(0, 5).join(" | ")}`);

  console.log(JSON.stringify({ report: file, loadMs, flameGraphs: iframes, drawn, requests: requests.length, consoleErrors: errors.length, screenshot: shot }));
} finally {
  await browser.close();
}
if (failures.length > 0) {
  console.error("report check failed:\n  " + failures.join("\n  "));
  process.exit(1);
}
