// Page objects for the VS Code workbench as code-server serves it (VS Code 1.100).
// Selectors are kept here, in one place, so a VS Code update touches one file.

import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { FrameLocator, Locator, Page } from 'playwright-core';


export interface Notification {
  message: string;
  source: string;
  buttons: string[];
  progress: boolean;
}

export class Workbench {
  readonly page: Page;
  readonly artifacts: string;
  private _scenario: string;
  private shot = 0;
  readonly screenshots: string[] = [];

  constructor(page: Page, scenario: string, artifacts: string) {
    this.page = page;
    this._scenario = scenario;
    this.artifacts = artifacts;
  }

  /** Prefix of the screenshot names; setting it restarts their numbering. */
  get scenario(): string {
    return this._scenario;
  }
  set scenario(name: string) {
    this._scenario = name;
    this.shot = 0;
  }

  // ------------------------------------------------------------------ basics

  async ready(timeoutMs = 60_000): Promise<void> {
    await this.page.locator('.monaco-workbench').waitFor({ state: 'visible', timeout: timeoutMs });
    // The activity bar and status bar are painted once the workbench is restored.
    await this.page.locator('.part.activitybar').waitFor({ state: 'visible', timeout: timeoutMs });
    await this.page.locator('.part.statusbar').waitFor({ state: 'visible', timeout: timeoutMs });
  }

  /** A PNG of the whole window, test/e2e/artifacts/<scenario>--NN-<name>.png.
   *  `keepMouse`: leave the mouse where it is (to show a hover), instead of parking it. */
  async screenshot(name: string, opts: { keepMouse?: boolean } = {}): Promise<string> {
    mkdirSync(this.artifacts, { recursive: true });
    this.shot += 1;
    const safe = name.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '');
    // Park the mouse on the title bar, so no hover or tooltip covers the picture.
    if (!opts.keepMouse) await this.page.mouse.move(this.page.viewportSize()!.width / 2, 8).catch(() => undefined);
    const file = join(this.artifacts, `${this.scenario}--${String(this.shot).padStart(2, '0')}-${safe}.png`);
    // Bounded: a stalled renderer makes this an error, not a hang of the whole suite.
    await this.page.screenshot({ path: file, timeout: 60_000 });
    this.screenshots.push(file);
    return file;
  }

  /** Close any open quick input (palette, quick pick). */
  async escape(): Promise<void> {
    await this.page.keyboard.press('Escape');
  }

  // ------------------------------------------------------------------ command palette, quick pick

  get quickInput(): Locator {
    return this.page.locator('.quick-input-widget');
  }

  private async openPalette(): Promise<void> {
    for (let attempt = 0; attempt < 3; attempt++) {
      await this.page.locator('.monaco-workbench').focus().catch(() => undefined);
      await this.page.keyboard.press('F1');
      try {
        await this.quickInput.waitFor({ state: 'visible', timeout: 5_000 });
        return;
      } catch {
        // The first F1 sometimes lands before the keybinding service is ready.
      }
    }
    throw new Error('the command palette did not open');
  }

  /** Run a command from the palette by its full title, e.g. "NEFTune: Start NEFTune run". */
  async runCommand(title: string): Promise<void> {
    // Under CPU contention the palette can close again between opening and typing (focus moves
    // to a view that finished loading); open it again rather than fail on the first try.
    for (let attempt = 0; ; attempt++) {
      await this.openPalette();
      try {
        await this.quickInput.locator('input').fill(`>${title}`, { timeout: 10_000 });
        break;
      } catch (err) {
        if (attempt >= 2) throw err;
        await this.escape();
      }
    }
    const row = this.quickInput
      .locator('.monaco-list-row')
      .filter({ has: this.page.locator('.label-name', { hasText: title }) })
      .first();
    try {
      await row.waitFor({ state: 'visible', timeout: 15_000 });
    } catch {
      const rows = await this.quickInput.locator('.monaco-list-row').allInnerTexts();
      await this.escape();
      throw new Error(`command "${title}" not in the palette; rows: ${JSON.stringify(rows)}`);
    }
    // Pick the row whose label is exactly the title (the palette also matches fuzzily).
    const rows = this.quickInput.locator('.monaco-list-row');
    const n = await rows.count();
    for (let i = 0; i < n; i++) {
      const label = (await rows.nth(i).locator('.label-name').first().innerText()).trim();
      if (label === title) {
        await rows.nth(i).click();
        return;
      }
    }
    await row.click();
  }

  /** Items of the open quick pick (their labels). */
  async quickPickItems(): Promise<string[]> {
    await this.quickInput.waitFor({ state: 'visible' });
    await this.quickInput.locator('.monaco-list-row').first().waitFor({ state: 'visible' });
    return (await this.quickInput.locator('.monaco-list-row .label-name').allInnerTexts()).map((s) => s.trim());
  }

  /** Choose the quick pick item whose label (or description) contains `text`. */
  async pick(text: string): Promise<void> {
    await this.quickInput.waitFor({ state: 'visible' });
    const row = this.quickInput.locator('.monaco-list-row', { hasText: text }).first();
    try {
      await row.waitFor({ state: 'visible', timeout: 15_000 });
    } catch {
      const rows = await this.quickInput.locator('.monaco-list-row').allInnerTexts();
      throw new Error(`quick pick has no item "${text}"; items: ${JSON.stringify(rows)}`);
    }
    await row.click();
  }

  /** Choose the quick pick item whose label is exactly `label` (no substring match: "5" is not "15"). */
  async pickLabel(label: string): Promise<void> {
    await this.quickInput.waitFor({ state: 'visible' });
    const row = this.quickInput
      .locator('.monaco-list-row')
      .filter({ has: this.page.locator('.label-name', { hasText: new RegExp(`^\\s*${escapeRe(label)}\\s*$`) }) })
      .first();
    try {
      await row.waitFor({ state: 'visible', timeout: 15_000 });
    } catch {
      const rows = await this.quickInput.locator('.monaco-list-row').allInnerTexts();
      throw new Error(`quick pick has no item labelled "${label}"; items: ${JSON.stringify(rows)}`);
    }
    await row.click();
  }

  /** The title of the open quick input (e.g. "New NEFTune run config (1/4): …"), waiting for `expected` when given. */
  async quickInputTitle(expected?: string | RegExp, timeoutMs = 15_000): Promise<string> {
    const title = this.quickInput.locator('.quick-input-title');
    if (expected) await this.quickInput.filter({ has: this.page.locator('.quick-input-title', { hasText: expected }) }).waitFor({ state: 'visible', timeout: timeoutMs });
    else await this.quickInput.waitFor({ state: 'visible', timeout: timeoutMs });
    return ((await title.textContent()) ?? '').trim();
  }

  /** The text in the open quick input's box (an input box's value, a save dialog's path). */
  async quickInputValue(): Promise<string> {
    await this.quickInput.waitFor({ state: 'visible' });
    return this.quickInput.locator('.quick-input-box input').first().inputValue();
  }

  /** The validation message under the open quick input box ('' when there is none). */
  async quickInputMessage(): Promise<string> {
    const msg = this.quickInput.locator('.quick-input-message');
    if (!(await msg.isVisible().catch(() => false))) return '';
    return ((await msg.textContent()) ?? '').trim();
  }

  // ------------------------------------------------------------------ context menus

  /** Click the item `label` of the open context menu (VS Code's own menu, in the page). */
  /**
   * Right-click `target` until its context menu shows (up to 3 tries): under load a right-click
   * can land while a hover tooltip opens, or before the row is ready, and bring no menu.
   */
  async openContextMenu(target: Locator): Promise<void> {
    const menu = this.page.locator('.context-view .monaco-menu').first();
    for (let attempt = 0; ; attempt++) {
      await target.click({ button: 'right' });
      try {
        await menu.waitFor({ state: 'visible', timeout: 8_000 });
        break;
      } catch (err) {
        if (attempt >= 2) throw err;
        await this.page.mouse.move(this.page.viewportSize()!.width / 2, 8).catch(() => undefined);
      }
    }
    await this.page.waitForTimeout(300); // the menu fades in; a click before that is swallowed
  }

  async clickContextMenuItem(label: string): Promise<void> {
    const menu = this.page.locator('.context-view .monaco-menu');
    await menu.first().waitFor({ state: 'visible' });
    const item = menu.locator('.action-item .action-label', { hasText: new RegExp(`^\\s*${escapeRe(label)}\\s*$`) }).first();
    try {
      await item.waitFor({ state: 'visible', timeout: 5_000 });
    } catch {
      const items = await menu.locator('.action-item .action-label').allInnerTexts();
      await this.escape();
      throw new Error(`context menu has no item "${label}"; items: ${JSON.stringify(items)}`);
    }
    // A click that lands while the menu is still laying out is swallowed and leaves it open:
    // hover first, and if it is still open, choose the item again.
    for (let attempt = 0; attempt < 3; attempt++) {
      await item.hover().catch(() => undefined);
      await item.click().catch(() => undefined);
      try {
        await menu.first().waitFor({ state: 'hidden', timeout: 3_000 });
        return;
      } catch {
        // still open: try again
      }
    }
    throw new Error(`context menu item "${label}" did not respond to clicks`);
  }

  // ------------------------------------------------------------------ window

  /** "Developer: Reload Window", then wait for the new workbench (and `waitForActivity` in the activity bar). */
  async reloadWindow(waitForActivity = 'NEFTune'): Promise<void> {
    // Generous: under CPU load the palette may need its retries (runCommand) before the reload starts.
    const loaded = this.page.waitForEvent('load', { timeout: 150_000 });
    await this.runCommand('Developer: Reload Window');
    await loaded;
    await this.ready();
    if (waitForActivity) await this.activityBarItem(waitForActivity).waitFor({ state: 'visible', timeout: 60_000 });
  }

  // ------------------------------------------------------------------ files

  /** Open a workspace file by its relative path (Quick Open). */
  async openFile(relPath: string): Promise<void> {
    // A webview that takes focus as its tab activates can swallow the key press: try again.
    for (let attempt = 1; ; attempt++) {
      await this.page.locator('.monaco-workbench').focus().catch(() => undefined);
      await this.page.keyboard.press('Control+P');
      try {
        await this.quickInput.waitFor({ state: 'visible', timeout: 5_000 });
        break;
      } catch (e) {
        if (attempt >= 4) throw e;
        await this.page.keyboard.press('Escape');
      }
    }
    await this.quickInput.locator('input').fill(relPath);
    const name = relPath.split('/').pop()!;
    await this.quickInput.locator('.monaco-list-row', { hasText: name }).first().waitFor({ state: 'visible' });
    await this.page.keyboard.press('Enter');
    await this.tab(name).waitFor({ state: 'visible' });
  }

  /** An editor tab by (the start of) its title. */
  tab(title: string): Locator {
    return this.page.locator('.tabs-container .tab', { has: this.page.locator('.label-name', { hasText: title }) }).first();
  }

  // ------------------------------------------------------------------ activity bar, views, trees

  /** The activity bar entry of a view container, by its title (e.g. "NEFTune"). */
  activityBarItem(title: string): Locator {
    return this.page
      .locator('.part.activitybar .action-item')
      .filter({ has: this.page.locator(`a.action-label[aria-label="${title}"], a.action-label[aria-label^="${title} ("]`) })
      .first();
  }

  /** Open a view container in the side bar by clicking its activity bar entry (no-op when open). */
  async openViewContainer(title: string): Promise<void> {
    const item = this.activityBarItem(title);
    await item.waitFor({ state: 'visible', timeout: 30_000 });
    const checked = await item.getAttribute('aria-selected').catch(() => null);
    const active = (await item.getAttribute('class'))?.includes('checked') || checked === 'true';
    if (!active) await item.click();
    await this.page
      .locator('.part.sidebar .composite.title h2', { hasText: title })
      .first()
      .waitFor({ state: 'visible' })
      .catch(() => undefined);
  }

  /** Titles of the views shown in the side bar (pane headers). */
  async sideBarViewTitles(): Promise<string[]> {
    const headers = this.page.locator('.part.sidebar .pane-header h3.title');
    await headers.first().waitFor({ state: 'visible' });
    return (await headers.allTextContents()).map((s) => s.trim());
  }

  /** A view pane (header + body) of the side bar by its title. */
  view(title: string): Locator {
    return this.page
      .locator('.part.sidebar .split-view-view')
      .filter({ has: this.page.locator('.pane-header h3.title', { hasText: new RegExp(`^${escapeRe(title)}$`, 'i') }) })
      .first();
  }

  /** Expand a collapsed view pane. */
  async expandView(title: string): Promise<void> {
    const header = this.view(title).locator('.pane-header');
    if ((await header.getAttribute('aria-expanded')) === 'false') await header.click();
  }

  /** Rows of a tree view (label and description). */
  async treeItems(viewTitle: string): Promise<Array<{ label: string; description: string }>> {
    const rows = this.view(viewTitle).locator('.monaco-list-row');
    const n = await rows.count();
    const out: Array<{ label: string; description: string }> = [];
    for (let i = 0; i < n; i++) {
      const r = rows.nth(i);
      const label = (await r.locator('.label-name').first().innerText().catch(() => '')).trim();
      const description = (await r.locator('.label-description').first().innerText().catch(() => '')).trim();
      out.push({ label, description });
    }
    return out;
  }

  /** A tree item of a view by (part of) its label. */
  treeItem(viewTitle: string, label: string | RegExp): Locator {
    return this.view(viewTitle)
      .locator('.monaco-list-row')
      .filter({ has: this.page.locator('.label-name', { hasText: label }) })
      .first();
  }

  async clickTreeItem(viewTitle: string, label: string | RegExp): Promise<void> {
    await this.treeItem(viewTitle, label).click();
  }

  // ------------------------------------------------------------------ webviews

  /**
   * The content frame of a webview panel by its panel (tab) title. The panel's tab is
   * activated first; its webview is then the visible iframe.webview lying over that tab's
   * editor group (webviews are overlays, not children of the editor). code-server nests
   * the content in iframe.webview > iframe#active-frame.
   */
  async webview(panelTitle: string, timeoutMs = 30_000): Promise<FrameLocator> {
    const tab = this.tab(panelTitle);
    await tab.waitFor({ state: 'visible', timeout: timeoutMs });
    if ((await tab.getAttribute('aria-selected')) !== 'true' || !(await tab.evaluate((el) => el.classList.contains('active')))) {
      await tab.click();
    }
    const box = await tab.evaluate((el) => {
      const group = el.closest('.editor-group-container');
      const content = group?.querySelector('.editor-container') ?? group ?? el;
      const r = content.getBoundingClientRect();
      return { x: r.x, y: r.y, w: r.width, h: r.height };
    });
    // The webview frame over this tab's editor. Just after a tab switch (a window reload opens
    // several) the frame of the tab shown before can still be visible there for a moment: take a
    // frame only when it is the one candidate, twice in a row.
    const frames = this.page.locator('iframe.webview.ready');
    const deadline = Date.now() + timeoutMs;
    let name = '';
    let seen = '';
    for (;;) {
      const names = await frames.evaluateAll((els, b) => {
        return els
          .filter((e) => {
            const r = e.getBoundingClientRect();
            const st = e.ownerDocument.defaultView!.getComputedStyle(e);
            if (r.width === 0 || r.height === 0 || st.visibility === 'hidden' || st.display === 'none') return false;
            const cx = r.x + r.width / 2;
            const cy = r.y + r.height / 2;
            return cx >= b.x && cx <= b.x + b.w && cy >= b.y && cy <= b.y + b.h;
          })
          .map((e) => e.getAttribute('name') ?? '');
      }, box);
      const only = names.length === 1 ? names[0]! : '';
      if (only && only === seen) {
        name = only;
        break;
      }
      seen = only;
      if (Date.now() > deadline) throw new Error(`no visible webview over the editor of "${panelTitle}" (${names.length} candidates)`);
      await this.page.waitForTimeout(200);
    }
    const inner = this.page.locator(`iframe.webview.ready[name="${name}"]`).contentFrame().locator('iframe#active-frame');
    await inner.waitFor({ state: 'attached', timeout: timeoutMs });
    return inner.contentFrame();
  }

  /** Titles of all editor tabs. */
  async tabTitles(): Promise<string[]> {
    return (await this.page.locator('.tabs-container .tab .label-name').allInnerTexts()).map((s) => s.trim());
  }

  // ------------------------------------------------------------------ notifications

  /** Notification toasts now on screen (message, source, buttons, whether it shows progress).
   *  Read in one page evaluation, so it never waits on a toast that just closed. */
  async notifications(): Promise<Notification[]> {
    return this.page.locator('.notifications-toasts .notification-list-item').evaluateAll((els) =>
      els
        .filter((el) => el.getClientRects().length > 0)
        .map((el) => {
          // No named inner functions here: tsx (esbuild keepNames) would wrap them in __name().
          const [message, source] = ['.notification-list-item-message', '.notification-list-item-source'].map((sel) =>
            (el.querySelector(sel)?.textContent ?? '').replace(/\s+/g, ' ').trim(),
          );
          const prog = el.querySelector('.monaco-progress-container');
          return {
            message: message ?? '',
            source: source ?? '',
            buttons: [...el.querySelectorAll('.notification-list-item-buttons-container .monaco-button')].map((b) =>
              (b.textContent ?? '').trim(),
            ),
            progress: !!prog && !prog.classList.contains('done') && prog.getClientRects().length > 0,
          };
        }),
    );
  }

  /** A notification toast whose message contains `text`. */
  notification(text: string | RegExp): Locator {
    return this.page
      .locator('.notifications-toasts .notification-list-item')
      .filter({ has: this.page.locator('.notification-list-item-message', { hasText: text }) })
      .first();
  }

  /** Click a button (e.g. "Cancel") of the notification whose message contains `text`. */
  async clickNotificationButton(text: string | RegExp, button: string): Promise<void> {
    const toast = this.notification(text);
    await toast.waitFor({ state: 'visible' });
    await toast.hover();
    await toast.locator('.monaco-button', { hasText: button }).first().click();
  }

  async clearNotifications(): Promise<void> {
    await this.runCommand('Notifications: Clear All Notifications').catch(() => undefined);
  }

  // ------------------------------------------------------------------ status bar

  /** Texts of all status bar items (one page evaluation, never waits). */
  async statusBarTexts(): Promise<string[]> {
    const texts = await this.page
      .locator('.part.statusbar .statusbar-item')
      .evaluateAll((els) => els.map((el) => (el.textContent ?? '').replace(/\s+/g, ' ').trim()));
    return texts.filter(Boolean);
  }

  /** The status bar item whose text contains `text`. */
  statusBarItem(text: string | RegExp): Locator {
    return this.page.locator('.part.statusbar .statusbar-item', { hasText: text }).first();
  }

  // ------------------------------------------------------------------ panel (Problems, Output)

  /** Open the Problems panel and return its rows (message text with location). */
  async problems(): Promise<Array<{ text: string; aria: string }>> {
    await this.runCommand('View: Focus Problems (Errors, Warnings, Infos)').catch(async () => {
      await this.page.keyboard.press('Control+Shift+M');
    });
    const panel = this.page.locator('.part.panel .markers-panel');
    await panel.waitFor({ state: 'visible' });
    const rows = panel.locator('.monaco-list-row');
    const n = await rows.count();
    const out: Array<{ text: string; aria: string }> = [];
    for (let i = 0; i < n; i++) {
      const r = rows.nth(i);
      out.push({
        text: (await r.innerText()).replace(/\s+/g, ' ').trim(),
        aria: (await r.getAttribute('aria-label')) ?? '',
      });
    }
    return out;
  }
}

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
