import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Browser, BrowserContext, chromium, Page } from 'playwright-core';
import { MANIFEST } from '../support/onnx-models';
import { eventually, REPO_ROOT, startTestStack, TestStack } from '../support/test-stack';

// The page's own globals, inside page.evaluate callbacks only (the DOM library stays out of the Node typings).
// eslint-disable-next-line @typescript-eslint/no-explicit-any
declare const document: any;

// The web interface in headless Chromium against the real stack (API + worker in this process, real Postgres, Redis,
// S3 server and Docker sandboxes): sign-in, the upload form with progress, live run progress over SSE, releasing a
// hidden leaderboard, the refusals (another vendor's pages, forms without a CSRF token), and the report page.
// Every page under test passes axe-core with zero violations and is screenshotted to .assay/test/screenshots.

jest.setTimeout(900_000);

const BENCHMARK = 'wdbc-malignancy';
const MODEL = join(REPO_ROOT, 'test', 'fixtures', 'onnx', 'logreg30.onnx');
const SHOTS = join(REPO_ROOT, '.assay', 'test', 'screenshots');
const AXE = join(REPO_ROOT, 'node_modules', 'axe-core', 'axe.min.js');
const AXE_SOURCE = readFileSync(AXE, 'utf8');
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

interface Person {
  token: string;
  email: string;
  userId: string;
}

interface AxeResult {
  violations: { id: string; impact: string | null; help: string; nodes: { target: string[]; failureSummary?: string }[] }[];
}

describe('web interface in headless Chromium (real stack)', () => {
  let stack: TestStack;
  let browser: Browser;
  let profileDir: string;
  const people = {} as Record<'vendorA' | 'vendorB' | 'evaluator' | 'regulator' | 'admin', Person>;
  const contexts: BrowserContext[] = [];
  const cspErrors: string[] = [];
  let submissionA: string;

  const person = async (role: 'vendor' | 'evaluator' | 'regulator' | 'admin', email: string, org?: string): Promise<Person> => {
    const organisationId = org ? (await stack.admin.post<{ id: string }>('/api/organisations', { name: org })).id : undefined;
    const user = await stack.admin.post<{ id: string }>('/api/users', { email, displayName: email.split('@')[0], role, ...(organisationId ? { organisationId } : {}) });
    const { token } = await stack.admin.post<{ token: string }>(`/api/users/${user.id}/tokens`, { label: 'browser' });
    return { token, email, userId: user.id };
  };

  /** A fresh browser context (its own cookie jar) and page at 1280 px. */
  const open = async (width = 1280): Promise<Page> => {
    const context = await browser.newContext({ viewport: { width, height: 900 }, baseURL: stack.baseUrl, acceptDownloads: true });
    contexts.push(context);
    const page = await context.newPage();
    page.on('console', (m) => {
      if (m.type() === 'error' && /Content Security Policy|Refused to/i.test(m.text())) cspErrors.push(`${page.url()}: ${m.text()}`);
    });
    page.on('pageerror', (e) => cspErrors.push(`${page.url()}: script error ${e.message}`));
    return page;
  };

  const signIn = async (page: Page, who: Person): Promise<void> => {
    await page.goto('/login');
    await page.getByLabel('API token').fill(who.token);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL((u) => u.pathname === '/');
  };

  /** axe-core on the page as it is now: zero violations; and a full-page screenshot. */
  const check = async (page: Page, name: string): Promise<void> => {
    // page.addScriptTag({ path }) would add an inline <script>, which the pages' CSP (script-src 'self') refuses, as it
    // should: the same file is evaluated through the DevTools protocol instead, which CSP does not govern.
    if (!(await page.evaluate(() => 'axe' in globalThis))) await page.evaluate(AXE_SOURCE);
    const result = (await page.evaluate(async () => (globalThis as unknown as { axe: { run: (ctx: unknown, opts: unknown) => Promise<unknown> } }).axe.run(document, { resultTypes: ['violations'] }))) as AxeResult;
    const summary = result.violations.map((v) => `${v.id} (${v.impact}): ${v.help} at ${v.nodes.map((n) => n.target.join(' ')).slice(0, 5).join(', ')}`);
    expect({ page: name, violations: summary }).toEqual({ page: name, violations: [] });
    await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
  };

  beforeAll(async () => {
    mkdirSync(SHOTS, { recursive: true });
    stack = await startTestStack({ worker: true });
    people.vendorA = await person('vendor', 'alice@vendor-a.test', 'Vendor A Imaging');
    people.vendorB = await person('vendor', 'bob@vendor-b.test', 'Vendor B Diagnostics');
    people.evaluator = await person('evaluator', 'eve@assay.test');
    people.regulator = await person('regulator', 'rita@notified-body.test');
    people.admin = await person('admin', 'ada@assay.test');
    profileDir = mkdtempSync(join(tmpdir(), 'assay-chromium-'));
    browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: [...CHROMIUM_ARGS, `--crash-dumps-dir=${profileDir}`] });
  });

  afterAll(async () => {
    for (const c of contexts) await c.close().catch(() => undefined);
    await browser?.close();
    await stack?.close();
    if (profileDir) rmSync(profileDir, { recursive: true, force: true });
  });

  afterEach(() => {
    expect(cspErrors).toEqual([]);
  });

  it('signs in with a token into an HttpOnly, SameSite=Strict cookie that scripts cannot read; a wrong token is refused', async () => {
    const page = await open();
    const first = await page.goto('/');
    expect(first?.status()).toBe(401);
    await check(page, 'login');
    await page.getByLabel('API token').fill('assay_not-a-real-token');
    await page.getByRole('button', { name: 'Sign in' }).click();
    expect(await page.getByRole('alert').textContent()).toContain('unknown, expired or revoked');
    await signIn(page, people.vendorA);
    const cookies = await page.context().cookies();
    const session = cookies.find((c) => c.name === 'assay_session');
    expect(session).toMatchObject({ httpOnly: true, sameSite: 'Strict', path: '/' });
    expect(await page.evaluate(() => document.cookie)).not.toContain('assay_session');
    await check(page, 'catalogue');
    // Sign-out ends the session: the next page asks to sign in again.
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.waitForURL((u) => u.pathname === '/login');
    expect((await page.goto('/submissions'))?.status()).toBe(401);
  });

  it('a vendor uploads an ONNX model through the form and watches its runs finish on the submission page', async () => {
    const page = await open();
    await signIn(page, people.vendorA);
    await page.goto(`/benchmarks/${BENCHMARK}`);
    await check(page, 'benchmark');
    await page.goto(`/submissions/new?benchmark=${BENCHMARK}`);
    await check(page, 'upload');
    const form = page.locator('#onnx-form');
    await form.getByLabel('Manifest (JSON)').fill(MANIFEST('web-alice'));
    await form.getByLabel('Model file (.onnx)').setInputFiles(MODEL);
    const seen = new Set<string>();
    page.on('response', (r) => {
      if (/\/api\/runs\/[^/]+\/events$/.test(new URL(r.url()).pathname)) seen.add(`sse ${r.status()}`);
    });
    await form.getByRole('button', { name: 'Upload model' }).click();
    await page.waitForURL(/\/submissions\/[0-9a-f-]{36}$/, { timeout: 60_000 });
    submissionA = new URL(page.url()).pathname.split('/').pop() as string;
    // The page follows the check and the runs by itself (polling, then SSE) and reloads once all have finished.
    // Settled: the server rendered the page with nothing live (so no script reloads it again), both runs succeeded.
    await page.waitForFunction(
      () => {
        const runs = [...document.querySelectorAll('article.run')];
        return document.getElementById('runs')?.dataset['live'] === 'false' && runs.length === 2 && runs.every((r) => (r as { dataset: Record<string, string> }).dataset['status'] === 'succeeded');
      },
      undefined,
      { timeout: 600_000, polling: 500 },
    );
    expect(seen.has('sse 200')).toBe(true);
    expect(await page.locator('article.run .run-progress-text').first().textContent()).toMatch(/(\d+) of \1 cases/);
    await check(page, 'submission');
    const api = await stack.admin.get<{ runs: { status: string }[] }>(`/api/submissions/${submissionA}`);
    expect(api.runs.map((r) => r.status)).toEqual(['succeeded', 'succeeded']);
  });

  it('an evaluator releases a hidden leaderboard and the vendor then sees it; and grants a regulator', async () => {
    await eventually(
      () => stack.admin.get<{ rows: { submissionId: string }[] }>(`/api/benchmarks/${BENCHMARK}/leaderboard?phase=test`),
      (l) => l.rows.some((r) => r.submissionId === submissionA),
    );
    await stack.admin.json('PATCH', `/api/benchmarks/${BENCHMARK}/phases/test`, { leaderboard: 'hidden' });
    const vendor = await open();
    await signIn(vendor, people.vendorA);
    await vendor.goto(`/benchmarks/${BENCHMARK}`);
    await expect(vendor.locator('[data-leaderboard="test"]').getAttribute('data-state')).resolves.toBe('hidden');

    const evaluator = await open();
    await signIn(evaluator, people.evaluator);
    await evaluator.goto(`/benchmarks/${BENCHMARK}/manage`);
    await check(evaluator, 'manage');
    await evaluator.getByRole('button', { name: 'Release leaderboard test' }).click();
    await evaluator.waitForURL(/\/manage\?done=/);
    expect(await evaluator.getByRole('status').textContent()).toContain('leaderboard public');
    await evaluator.getByLabel("Regulator's e-mail").fill(people.regulator.email);
    await evaluator.getByRole('button', { name: 'Grant access' }).click();
    await evaluator.waitForURL(/\/manage\?done=Granted/);
    expect(await evaluator.locator('#gr-cap + thead + tbody').textContent()).toContain(people.regulator.userId.slice(0, 8));
    await check(evaluator, 'manage-granted');

    const reloaded = await vendor.reload();
    // Chromium takes brotli: the page comes compressed (src/web/html-compression.interceptor.ts), and renders.
    expect(reloaded?.headers()['content-encoding']).toBe('br');
    expect(reloaded?.headers()['vary']).toMatch(/Accept-Encoding/i);
    const board = vendor.locator('table[data-leaderboard="test"]');
    await expect(board.getAttribute('data-state')).resolves.toBe('shown');
    expect(await board.textContent()).toContain('Vendor A Imaging');
    // The public view: values as the API rounds them (no more decimals than the benchmark's precision).
    const api = await stack.admin.withToken(people.vendorA.token).get<{ precision: number; fullPrecision: boolean; rows: { rankShare: number[] | null; metrics: Record<string, { value: number | null }> }[] }>(`/api/benchmarks/${BENCHMARK}/leaderboard?phase=test`);
    expect(api.fullPrecision).toBe(false);
    const shown = api.rows[0]?.metrics['auroc']?.value;
    expect(await board.textContent()).toContain(String(shown));
    // The rank-distribution plot is drawn exactly when the API reports a bootstrap of ranks (wdbc ranks without one;
    // the plot itself is covered by src/web/rank-plot.spec.ts).
    expect((await vendor.locator('figure.plot svg[role="img"]').count()) > 0).toBe(api.rows.some((r) => r.rankShare !== null));
    expect(await vendor.locator('table[data-leaderboard="test"] tbody tr').count()).toBe(api.rows.length);
    await check(vendor, 'benchmark-released');
    const narrow = await open(375);
    await signIn(narrow, people.vendorA);
    await narrow.goto(`/benchmarks/${BENCHMARK}`);
    await check(narrow, 'benchmark-375');
    const scroll = await narrow.evaluate(() => document.documentElement.scrollWidth);
    expect(scroll).toBeLessThanOrEqual(380);
  });

  it("a vendor cannot reach another vendor's submission (404), and forms or API calls without the CSRF token are refused", async () => {
    const page = await open();
    await signIn(page, people.vendorB);
    const other = await page.goto(`/submissions/${submissionA}`);
    expect(other?.status()).toBe(404);
    expect(await page.locator('h1').textContent()).toBe('Not found');
    await check(page, 'not-found');
    // The same through the API with the cookie: 404 as well.
    expect((await page.request.get(`/api/submissions/${submissionA}`)).status()).toBe(404);
    // Its own pages work; a vendor's page for staff is refused by role.
    expect((await page.goto(`/benchmarks/${BENCHMARK}/manage`))?.status()).toBe(403);
    await check(page, 'forbidden');

    // Forms posted with the session cookie but no (or a wrong) CSRF token: 403, saying why; nothing is created.
    const before = (await stack.admin.get<unknown[]>('/api/grants')).length;
    const noToken = await page.request.post('/grants', { form: { regulatorEmail: people.regulator.email, submissionId: submissionA } });
    expect(noToken.status()).toBe(403);
    expect(await noToken.text()).toContain('missing CSRF token');
    const wrong = await page.request.post('/logout', { form: { _csrf: 'forged' } });
    expect(wrong.status()).toBe(403);
    expect(await wrong.text()).toContain('wrong CSRF token');
    // Cookie-authenticated API writes need the X-CSRF-Token header.
    const xhr = await page.request.post('/api/grants', { data: { regulatorEmail: people.regulator.email, submissionId: submissionA } });
    expect(xhr.status()).toBe(403);
    expect(((await xhr.json()) as { message: string }).message).toContain('missing CSRF token');
    const upload = await page.request.post('/api/submissions', { multipart: { benchmark: BENCHMARK, manifest: MANIFEST('csrf'), model: { name: 'm.onnx', mimeType: 'application/octet-stream', buffer: readFileSync(MODEL) } } });
    expect(upload.status()).toBe(403);
    expect((await stack.admin.get<unknown[]>('/api/grants')).length).toBe(before);
    // The sign-in form needs its own token too (login CSRF).
    const anonymous = await open();
    const login = await anonymous.request.post('/login', { form: { token: people.vendorB.token } });
    expect(login.status()).toBe(403);
    // Bearer-token API calls are unaffected.
    expect((await stack.admin.withToken(people.vendorB.token).get<unknown[]>('/api/submissions')).length).toBe(0);
    // A vendor shares its own submission with a regulator through the page form (with its token).
    const vendorA = await open();
    await signIn(vendorA, people.vendorA);
    await vendorA.goto(`/submissions/${submissionA}`);
    await vendorA.getByLabel("Regulator's e-mail").fill(people.regulator.email);
    await vendorA.getByRole('button', { name: 'Grant read access to this submission' }).click();
    await vendorA.waitForURL(/done=Granted/);
    expect((await stack.admin.get<unknown[]>('/api/grants')).length).toBe(before + 1);
  });

  it('the admin page creates an organisation and a user and shows a new token once', async () => {
    const page = await open();
    await signIn(page, people.admin);
    await page.goto('/admin');
    await check(page, 'admin');
    await page.getByLabel('Name', { exact: true }).fill('Vendor C Radiology');
    await page.getByRole('button', { name: 'Create organisation' }).click();
    await page.waitForURL(/done=Organisation/);
    await page.getByLabel('E-mail', { exact: true }).fill('carol@vendor-c.test');
    await page.getByLabel('Display name').fill('Carol');
    await page.getByLabel('Role').selectOption('vendor');
    await page.getByLabel('Organisation (vendors only)').selectOption({ label: 'Vendor C Radiology' });
    await page.getByRole('button', { name: 'Create user' }).click();
    await page.waitForURL(/done=User/);
    await page.getByRole('button', { name: 'Create token for carol@vendor-c.test' }).click();
    const token = await page.getByLabel('The token').inputValue();
    expect(token).toMatch(/^assay_/);
    await check(page, 'token-issued');
    // The token works, and the page that showed it is not kept.
    expect((await stack.admin.withToken(token).get<{ email: string }>('/api/me')).email).toBe('carol@vendor-c.test');
    await page.goto('/admin');
    expect(await page.content()).not.toContain(token);
    // A session whose token is revoked ends at the next request, and the stale cookie is dropped.
    const carol = await open();
    await signIn(carol, { token, email: 'carol@vendor-c.test', userId: '' });
    const client = stack.admin.withToken(token);
    const [own] = await client.get<{ id: string }[]>('/api/tokens');
    await client.json('DELETE', `/api/tokens/${own?.id}`);
    expect((await carol.goto('/submissions'))?.status()).toBe(401);
    expect(await carol.locator('#login-error').textContent()).toContain('session has ended');
    expect((await carol.context().cookies()).some((c) => c.name === 'assay_session')).toBe(false);
  });

  it('a regulator opens a granted report and verifies it; a tampered file fails', async () => {
    const reports = await eventually(
      () => stack.admin.withToken(people.regulator.token).get<{ id: string; submissionId: string }[]>('/api/reports'),
      (list) => list.some((r) => r.submissionId === submissionA),
      300_000,
    );
    const report = reports.find((r) => r.submissionId === submissionA) as { id: string };
    const page = await open();
    await signIn(page, people.regulator);
    await page.goto('/reports');
    await check(page, 'reports');
    await page.goto(`/reports/${report.id}`);
    await check(page, 'report');
    const evidence = await page.request.get(`/api/reports/${report.id}/evidence.json`);
    expect(evidence.status()).toBe(200);
    const dir = mkdtempSync(join(tmpdir(), 'assay-verify-'));
    const good = join(dir, 'evidence.json');
    const body = await evidence.body();
    writeFileSync(good, body);
    await page.getByLabel('Report file').setInputFiles(good);
    await page.getByRole('button', { name: 'Verify' }).click();
    await expect(page.locator('[data-valid]').getAttribute('data-valid', { timeout: 30_000 })).resolves.toBe('true');
    const tampered = join(dir, 'tampered.json');
    const text = body.toString('utf8');
    const changed = text.replace(/"auroc":\{"value":(\d)\.(\d)/, (_m, a: string, b: string) => `"auroc":{"value":${a}.${(Number(b) + 1) % 10}`);
    writeFileSync(tampered, changed === text ? text.replace(/\d(?=[^\d]*$)/, (d) => String((Number(d) + 1) % 10)) : changed);
    await page.getByLabel('Report file').setInputFiles(tampered);
    await page.getByRole('button', { name: 'Verify' }).click();
    await expect(page.locator('[data-valid]').getAttribute('data-valid', { timeout: 30_000 })).resolves.toBe('false');
    await check(page, 'report-tampered');
    rmSync(dir, { recursive: true, force: true });
  });
});
