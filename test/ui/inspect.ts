/**
 * What an operator sees in the Temporal Web UI (v2.54, served by the CLI dev server), read with a real
 * Chromium through playwright-core. Shared by the browser test (test/ui/web-ui.test.ts) and
 * `npm run ui:check` (scripts/ui-check.ts).
 *
 * What the UI offers, found by loading its pages:
 *  - `<ui>/namespaces/<ns>/workflows?query=<visibility query>`: the list. Its columns are per browser
 *    (localStorage `namespace-workflow-table-columns`, `{ [ns]: [{label}] }`); custom search
 *    attributes can be columns, the static summary cannot (2.54 has no summary column).
 *  - `<ui>/namespaces/<ns>/workflows/<workflowId>` redirects to the latest run's
 *    `.../<workflowId>/<runId>/timeline`; the other tabs are `history`, `relationships`, `workers`,
 *    `pending-activities`, `call-stack`, `query`, `user-metadata`, `search-attributes`, `memo`.
 *  - `user-metadata` shows Summary, Details and Current Details, each rendered as markdown inside an
 *    `<iframe title="output">` (`<ui>/render?content=…`): their text is in the frames, not the page.
 *    Current Details comes from the `__temporal_workflow_metadata` query, so it needs a running worker.
 *  - A task that failed or rolled back is a FAILED workflow (its final state is the failure's details), a
 *    confirmed one COMPLETED; Details links the task's parents and tree root, a final task's Current
 *    Details its dependents (`/namespaces/<ns>/workflows/<workflowId>`).
 */
import { mkdirSync } from 'node:fs';
import * as path from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';

export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-background-networking',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-component-update',
  '--disable-sync',
];

/** The task list's columns: what an operator needs to read a tree (status, speculation, depth, parent, root). */
export const TASK_COLUMNS = [
  'Status',
  'Workflow ID',
  'AgencStatus',
  'AgencSpeculationStatus',
  'AgencRollbackReason',
  'AgencDepth',
  'AgencParentTaskId',
  'AgencRootTaskId',
  'AgencAgent',
  'Start',
  'End',
];
export const ROLLOUT_COLUMNS = [
  'Status',
  'Workflow ID',
  'Type',
  'AgencRolloutName',
  'AgencRolloutPhase',
  'Start',
  'End',
];

export interface UiTarget {
  /** e.g. http://localhost:8233 */
  ui: string;
  namespace: string;
}

export interface Check {
  what: string;
  ok: boolean;
  detail: string;
}

export interface ListRow {
  workflowId: string;
  /** Column label → the cell's text. */
  cells: Record<string, string>;
}

export interface WorkflowMetadata {
  url: string;
  /** Summary, Details and Current Details as rendered (empty when the UI shows none). */
  summary: string;
  details: string;
  currentDetails: string;
  /** The links in Details (the task's parents and its tree root) and in Current Details (a final task's dependents). */
  detailsLinks: string[];
  currentDetailsLinks: string[];
}

export async function launchBrowser(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS });
}

export async function newUiContext(browser: Browser): Promise<BrowserContext> {
  const context = await browser.newContext({
    viewport: { width: 1600, height: 1000 },
    timezoneId: 'UTC',
    locale: 'en-US',
  });
  context.setDefaultTimeout(20_000);
  context.setDefaultNavigationTimeout(30_000);
  return context;
}

const base = (t: UiTarget) => `${t.ui.replace(/\/+$/, '')}/namespaces/${encodeURIComponent(t.namespace)}`;
export const listUrl = (t: UiTarget, query: string) => `${base(t)}/workflows?query=${encodeURIComponent(query)}`;
export const workflowUrl = (t: UiTarget, workflowId: string) =>
  `${base(t)}/workflows/${encodeURIComponent(workflowId)}`;

/** Sets the list's columns for the namespace (what an operator does once with "Configure Columns"). */
export async function setListColumns(page: Page, t: UiTarget, columns: string[]): Promise<void> {
  const origin = new URL(t.ui).origin;
  if (!page.url().startsWith(origin)) await page.goto(`${origin}/api/v1/settings`);
  await page.evaluate(
    ([ns, cols]) => {
      // Runs in the page (the project's tsconfig has no DOM types).
      const localStorage = (
        globalThis as unknown as {
          localStorage: { getItem(k: string): string | null; setItem(k: string, v: string): void };
        }
      ).localStorage;
      const key = 'namespace-workflow-table-columns';
      const current = JSON.parse(localStorage.getItem(key) ?? '{}') as Record<string, unknown>;
      localStorage.setItem(
        key,
        JSON.stringify({ ...current, [ns as string]: (cols as string[]).map((label) => ({ label })) }),
      );
    },
    [t.namespace, columns] as const,
  );
}

/**
 * Opens the list for a visibility query and reads its rows. Visibility may lag a moment behind the
 * workflows: the page is reloaded until every `expectIds` row is there (or `timeoutMs` passes).
 */
export async function readWorkflowList(
  page: Page,
  t: UiTarget,
  query: string,
  opts: { columns?: string[]; expectIds?: string[]; timeoutMs?: number } = {},
): Promise<{ url: string; rows: ListRow[]; headers: string[] }> {
  if (opts.columns) await setListColumns(page, t, opts.columns);
  const url = listUrl(t, query);
  const deadline = Date.now() + (opts.timeoutMs ?? 15_000);
  for (;;) {
    await page.goto(url, { waitUntil: 'domcontentloaded' });
    // The count heading ("4 Workflows", "1 Workflow", "0 Workflows") appears once the query answered.
    await page
      .getByRole('heading', { level: 1 })
      .filter({ hasText: /\d+\s+Workflows?/ })
      .first()
      .waitFor();
    await page.mouse.move(0, 0); // no row hovered (hover adds buttons to the cells, and shades the row in screenshots)
    const result = await readTable(page);
    const seen = new Set(result.rows.map((r) => r.workflowId));
    if ((opts.expectIds ?? []).every((id) => seen.has(id)) || Date.now() > deadline) return { url, ...result };
    await page.waitForTimeout(1000);
  }
}

async function readTable(page: Page): Promise<{ rows: ListRow[]; headers: string[] }> {
  const table = page.getByRole('table').first();
  if ((await page.getByRole('table').count()) === 0) return { rows: [], headers: [] };
  const headers = (await table.getByRole('columnheader').allInnerTexts()).map((h) => h.trim());
  const rows: ListRow[] = [];
  for (const row of await table.getByRole('row').all()) {
    // A hovered cell adds filter / copy buttons: only a cell's first line is its value.
    const cells = (await row.getByRole('cell').allInnerTexts()).map((c) => c.trim().split('\n')[0]!.trim());
    if (cells.length === 0) continue; // the header row
    const byLabel: Record<string, string> = {};
    // Header and body cells line up one to one (checkbox and "start like this one" columns included).
    headers.forEach((h, i) => {
      if (h) byLabel[h] = cells[i] ?? '';
    });
    const workflowId = byLabel['Workflow ID'] ?? '';
    if (workflowId) rows.push({ workflowId, cells: byLabel });
  }
  return { rows, headers };
}

/**
 * Opens a workflow by clicking its id in the list on screen (a client-side navigation: a full load of
 * the UI costs seconds, a click a fraction of one). Lands on the run's Timeline.
 */
export async function openFromList(page: Page, workflowId: string): Promise<void> {
  await page.getByRole('link', { name: workflowId, exact: true }).first().click();
  await page.waitForURL(new RegExp(`/workflows/${escapeRe(encodeURIComponent(workflowId))}/[0-9a-f-]{36}/`));
  await page.getByRole('heading', { name: workflowId }).first().waitFor();
}

/** Switches the open workflow to a tab ("User Metadata", "Search Attributes", "Relationships", "Event History"…). */
export async function showTab(page: Page, name: string): Promise<void> {
  await page
    .getByRole('tab', { name: new RegExp(`^\\s*${escapeRe(name)}`) })
    .first()
    .click();
  await page
    .getByRole('tab', { name: new RegExp(`^\\s*${escapeRe(name)}`), selected: true })
    .first()
    .waitFor();
}

/** Back (browser history) to the list the workflow was opened from. */
export async function backToList(page: Page): Promise<void> {
  for (let i = 0; i < 6 && !/\/workflows\?/.test(page.url()); i++) await page.goBack();
  await page
    .getByRole('heading', { level: 1 })
    .filter({ hasText: /\d+\s+Workflows?/ })
    .first()
    .waitFor();
}

const escapeRe = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * Reads the open workflow's User Metadata tab: the markdown frames under the Summary, Details and
 * Current Details headings. Retries until `until` holds (the frames fill in after the tab shows, and a
 * previous workflow's frames may still be on screen for a moment) or `timeoutMs` passes.
 */
export async function readUserMetadata(
  page: Page,
  opts: { until?: (md: WorkflowMetadata) => boolean; timeoutMs?: number } = {},
): Promise<WorkflowMetadata> {
  await showTab(page, 'User Metadata');
  const until = opts.until ?? ((md) => Boolean(md.summary && md.details && md.currentDetails));
  const deadline = Date.now() + (opts.timeoutMs ?? 10_000);
  for (;;) {
    // Which heading each markdown frame sits under (the frame has no label of its own).
    const labels = await page.locator('iframe[title="output"]').evaluateAll((frames) =>
      frames.map((f) => {
        // Runs in the page (the project's tsconfig has no DOM types).
        type Node = {
          tagName: string;
          textContent: string | null;
          previousElementSibling: Node | null;
          parentElement: Node | null;
        };
        let el = f as unknown as Node | null;
        while (el && el.tagName !== 'BODY') {
          const heading = el.previousElementSibling?.textContent?.trim();
          if (heading) return heading;
          el = el.parentElement;
        }
        return '';
      }),
    );
    const texts: string[] = [];
    const hrefs: string[][] = [];
    for (let i = 0; i < labels.length; i++) {
      const frame = page.frameLocator('iframe[title="output"]').nth(i);
      texts.push(
        await frame
          .locator('body')
          .innerText({ timeout: 5000 })
          .then(clean, () => ''),
      );
      hrefs.push(
        await frame
          .locator('a')
          .evaluateAll((as) =>
            as.map((a) => (a as unknown as { getAttribute(n: string): string | null }).getAttribute('href') ?? ''),
          )
          .catch(() => []),
      );
    }
    const pick = (re: RegExp) => texts[labels.findIndex((l) => re.test(l))] ?? '';
    const linksOf = (re: RegExp) => hrefs[labels.findIndex((l) => re.test(l))] ?? [];
    const md: WorkflowMetadata = {
      url: page.url(),
      summary: pick(/^Summary/),
      details: pick(/^Details/),
      currentDetails: pick(/^Current Details/),
      detailsLinks: linksOf(/^Details/),
      currentDetailsLinks: linksOf(/^Current Details/),
    };
    if (until(md) || Date.now() > deadline) return md;
    await page.waitForTimeout(300);
  }
}

const clean = (s: string) => s.replace(/\s*\n\s*/g, '\n').trim();

/** The open workflow's Search Attributes tab as the UI shows it (a JSON block; flat strings and numbers). */
export async function readSearchAttributes(page: Page): Promise<Record<string, unknown>> {
  await showTab(page, 'Search Attributes');
  const main = page.getByRole('main');
  await main
    .getByText(/"Agenc\w+"/)
    .first()
    .waitFor();
  const text = await main.innerText();
  return Object.fromEntries(
    [...text.matchAll(/"(\w+)":\s*(?:"([^"\n]*)"|(-?\d+(?:\.\d+)?)|(true|false|null))/g)].map((m) => [
      m[1],
      m[2] ?? (m[3] !== undefined ? Number(m[3]) : m[4] === 'null' ? null : m[4] === 'true'),
    ]),
  );
}

export async function screenshot(page: Page, dir: string, name: string): Promise<string> {
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, name);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}

// ── the whole inspection ──────────────────────────────────────────────────────────────────────────

export interface TreeExpectation {
  /** Task ids with the AgencStatus each should show (when known: the test knows, ui:check reads them from the list). */
  statuses?: Record<string, string>;
}

export interface InspectionReport {
  checks: Check[];
  screenshots: string[];
  treeRows: ListRow[];
  speculativeRows: ListRow[];
  rolloutRows: ListRow[];
  detail?: WorkflowMetadata;
  rootDetail?: WorkflowMetadata;
  rolloutDetail?: WorkflowMetadata;
  ok: boolean;
}

/**
 * The operator's walk through a rolled-back tree (and a rollout, when named): the list for
 * `AgencRootTaskId="<root>"` with the task columns, a rolled-back task's User Metadata, the root's,
 * the list of speculative tasks, the rollout's phases. Each step is a check; screenshots go to `outDir`.
 */
export async function inspectUi(
  browser: Browser,
  t: UiTarget,
  opts: { rootTaskId: string; outDir: string; expect?: TreeExpectation; rollout?: string; log?: (m: string) => void },
): Promise<InspectionReport> {
  const log = opts.log ?? (() => undefined);
  const checks: Check[] = [];
  const shots: string[] = [];
  const check = (what: string, ok: boolean, detail: string) => {
    checks.push({ what, ok, detail });
    log(`${ok ? 'ok  ' : 'FAIL'} ${what}: ${detail}`);
  };
  const context = await newUiContext(browser);
  const page = await context.newPage();
  const report: InspectionReport = {
    checks,
    screenshots: shots,
    treeRows: [],
    speculativeRows: [],
    rolloutRows: [],
    ok: false,
  };
  try {
    // 1. Everything under the root.
    const expectIds = Object.keys(opts.expect?.statuses ?? {}).map((id) => `task-${id}`);
    const tree = await readWorkflowList(page, t, `AgencRootTaskId="${opts.rootTaskId}"`, {
      columns: TASK_COLUMNS,
      expectIds,
    });
    report.treeRows = tree.rows;
    shots.push(await screenshot(page, opts.outDir, 'rolled-back-tree.png'));
    check(
      'tree list shows the tasks',
      tree.rows.length > 0 && expectIds.every((id) => tree.rows.some((r) => r.workflowId === id)),
      `${tree.rows.length} row(s) for AgencRootTaskId="${opts.rootTaskId}": ${tree.rows.map((r) => r.workflowId).join(', ') || 'none'}`,
    );
    check(
      'tree list shows the AgencStatus column',
      tree.headers.includes('AgencStatus') && tree.rows.every((r) => (r.cells.AgencStatus ?? '') !== ''),
      tree.rows
        .map(
          (r) => `${r.workflowId}=${r.cells.AgencStatus || '(blank)'}/${r.cells.AgencSpeculationStatus || '(blank)'}`,
        )
        .join(', '),
    );
    for (const [id, status] of Object.entries(opts.expect?.statuses ?? {})) {
      const row = tree.rows.find((r) => r.workflowId === `task-${id}`);
      check(
        `task ${id} shows status ${status}`,
        row?.cells.AgencStatus === status,
        `row: ${row ? JSON.stringify(row.cells) : 'missing'}`,
      );
    }
    const rootRow = tree.rows.find((r) => r.workflowId === `task-${opts.rootTaskId}`);
    check(
      'the root is in its tree',
      Boolean(rootRow),
      rootRow ? `task-${opts.rootTaskId} ${rootRow.cells.AgencStatus}` : 'no row for the root',
    );
    const rolledBack = tree.rows.filter((r) => r.cells.AgencStatus === 'rolled_back');
    check(
      'some task of the tree shows rolled_back',
      rolledBack.length > 0,
      `${rolledBack.length} rolled back: ${rolledBack.map((r) => r.workflowId).join(', ')}`,
    );

    // 2. One rolled-back task (the deepest: its parent is not the root), then the root: opened from the list.
    const victim = [...rolledBack].sort(
      (a, b) =>
        Number(a.cells.AgencParentTaskId === opts.rootTaskId) - Number(b.cells.AgencParentTaskId === opts.rootTaskId),
    )[0];
    if (victim) {
      const id = victim.workflowId.replace(/^task-/, '');
      await openFromList(page, victim.workflowId);
      const md = await readUserMetadata(page, {
        until: (m) => m.summary.includes(`task ${id} `) && m.details !== '' && m.currentDetails !== '',
      });
      report.detail = md;
      shots.push(await screenshot(page, opts.outDir, 'task-detail.png'));
      check(`task ${id}: summary shown`, md.summary.includes(`task ${id} (`), JSON.stringify(md.summary));
      check(
        `task ${id}: details shown`,
        md.details.includes(id) && md.details.includes(opts.rootTaskId),
        JSON.stringify(md.details),
      );
      const sa = await readSearchAttributes(page);
      shots.push(await screenshot(page, opts.outDir, 'task-search-attributes.png'));
      const statusShown = /rolled_back/.test(md.currentDetails) || sa.AgencStatus === 'rolled_back';
      check(
        `task ${id}: current details or status show rolled_back`,
        statusShown,
        `current details ${JSON.stringify(md.currentDetails)}; AgencStatus ${JSON.stringify(sa.AgencStatus)}, root ${JSON.stringify(sa.AgencRootTaskId)}, parent ${JSON.stringify(sa.AgencParentTaskId)}`,
      );
      await backToList(page);
    }
    if (rootRow) {
      await openFromList(page, rootRow.workflowId);
      // The frames fill in one by one: the root's summary can show while the task opened before it still
      // fills Current Details (seen on a loaded machine). Its text is not the root's: wait for it to change.
      const previous = report.detail?.currentDetails;
      const md = await readUserMetadata(page, {
        until: (m) =>
          m.summary.includes(`task ${opts.rootTaskId} `) && m.currentDetails !== '' && m.currentDetails !== previous,
      });
      report.rootDetail = md;
      shots.push(await screenshot(page, opts.outDir, 'root-detail.png'));
      check(
        `root ${opts.rootTaskId}: summary shown`,
        md.summary.includes(`task ${opts.rootTaskId} (`),
        JSON.stringify(md.summary),
      );
      check(
        `root ${opts.rootTaskId}: current details or status shown`,
        md.currentDetails !== '' || (rootRow.cells.AgencStatus ?? '') !== '',
        `current details ${JSON.stringify(md.currentDetails)}; AgencStatus ${rootRow.cells.AgencStatus}`,
      );
    }

    // 3. All speculative tasks.
    const spec = await readWorkflowList(page, t, 'AgencSpeculationStatus="speculative"', { columns: TASK_COLUMNS });
    report.speculativeRows = spec.rows;
    shots.push(await screenshot(page, opts.outDir, 'speculative-tasks.png'));
    check(
      'speculative query answers with speculative rows only',
      spec.rows.every((r) => r.cells.AgencSpeculationStatus === 'speculative'),
      `${spec.rows.length} row(s): ${spec.rows.map((r) => `${r.workflowId}=${r.cells.AgencStatus} depth ${r.cells.AgencDepth}`).join(', ') || 'none'}`,
    );

    // 4. A rollout's phases.
    if (opts.rollout) {
      const rolloutId = `rollout-${opts.rollout}`;
      const list = await readWorkflowList(page, t, `AgencRolloutName="${opts.rollout}"`, {
        columns: ROLLOUT_COLUMNS,
        expectIds: [rolloutId, `${rolloutId}-phase-1`],
      });
      report.rolloutRows = list.rows;
      shots.push(await screenshot(page, opts.outDir, 'rollout-phases.png'));
      const phases = list.rows.filter((r) => /-phase-\d+$/.test(r.workflowId));
      check(
        `rollout ${opts.rollout}: the rollout and its phases listed`,
        list.rows.some((r) => r.workflowId === rolloutId) && phases.length > 0,
        list.rows
          .map((r) => `${r.workflowId} (${r.cells.Type}, phase ${r.cells.AgencRolloutPhase || '-'}, ${r.cells.Status})`)
          .join(', ') || 'none',
      );
      if (list.rows.some((r) => r.workflowId === rolloutId)) {
        await openFromList(page, rolloutId);
        const md = await readUserMetadata(page, {
          until: (m) => m.summary.includes(`rollout ${opts.rollout}`) && m.currentDetails !== '',
        });
        report.rolloutDetail = md;
        shots.push(await screenshot(page, opts.outDir, 'rollout-detail.png'));
        check(
          `rollout ${opts.rollout}: summary shown`,
          md.summary.includes(`rollout ${opts.rollout}`),
          JSON.stringify(md.summary),
        );
        check(
          `rollout ${opts.rollout}: current details shown`,
          md.currentDetails !== '',
          JSON.stringify(md.currentDetails),
        );
        await showTab(page, 'Relationships');
        await page
          .getByRole('link', { name: `${rolloutId}-phase-1` })
          .first()
          .waitFor();
        shots.push(await screenshot(page, opts.outDir, 'rollout-relationships.png'));
      }
    }
  } catch (err) {
    check('inspection ran to the end', false, (err as Error).message.split('\n')[0]!);
    shots.push(await screenshot(page, opts.outDir, 'error.png').catch(() => '(no screenshot)'));
  } finally {
    await context.close();
  }
  report.ok = checks.length > 0 && checks.every((c) => c.ok);
  return report;
}
