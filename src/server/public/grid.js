// The grid: every kept image of the history, newest first (a generation's kept images best
// first, one tile each), paged by cursor as it scrolls into view (an IntersectionObserver on
// a sentinel; images lazy), search results in its place, and keyboard moves across tiles
// (one tab stop, arrows move, Enter opens).
import { $, api, el, thumb, score } from './api.js';

// Generations per history page; each brings its kept images (one to a few tiles each).
const PAGE = 24;

/** ui: { open(tile), setStatus(text, isError), notice(kind, text) } */
export function createGrid(ui) {
  const grid = $('grid');
  const state = { view: 'history', cursor: null, done: false, loading: false, total: null, search: null, searchOffset: 0, searchMore: false, saved: null };
  const shown = new Set();

  function tile({ id, file, imageId, url, prompt, scoreValue, created, rank }) {
    const label = prompt || 'image';
    const open = el('button', { type: 'button', class: 'tile', tabindex: '-1', 'data-id': id, 'data-file': file ?? undefined, 'data-image': imageId ?? undefined, title: created ? `${label} · ${new Date(created * 1000).toLocaleString()}` : label }, [
      // The caption (prompt, rank, score) names the button; the picture adds nothing to say.
      url ? thumb(url, '') : el('span', { class: 'no-image', text: 'no kept image' }),
      el('span', { class: 'caption' }, [
        el('span', { class: 'prompt', text: label }),
        // A generation that kept several images shows each; the rank tells them apart.
        rank === undefined ? null : el('span', { class: 'rank', title: `rank ${rank} of the kept images`, text: `#${rank}` }),
        scoreValue === undefined ? null : el('span', { class: 'score', text: score(scoreValue) }),
      ]),
    ]);
    open.addEventListener('click', () => ui.open(open));
    const like = imageId ? el('button', { type: 'button', class: 'like', 'aria-label': `More like this: ${label}`, title: 'More like this', text: '≈', on: { click: () => moreLike(imageId) } }) : null;
    return el('li', { class: 'cell' }, [open, like]);
  }

  /** A history entry's tiles: one per kept image, best first (none kept: one empty tile). */
  function entryTiles(entry) {
    const base = { id: entry.id, prompt: entry.prompt, created: entry.created };
    if (!entry.kept?.length) return [tile({ ...base, file: null, imageId: null, url: null })];
    const several = entry.kept.length > 1;
    return entry.kept.map((k) => tile({ ...base, file: k.file, imageId: `${entry.id}/${k.file}`, url: k.url, scoreValue: k.clip_score ?? undefined, rank: several ? k.rank : undefined }));
  }

  function settleFocus() {
    const tiles = allTiles();
    if (tiles.length > 0 && !tiles.some((t) => t.tabIndex === 0)) tiles[0].tabIndex = 0;
  }

  async function loadHistory() {
    if (state.loading || state.done) return;
    state.loading = true;
    try {
      const page = await api('GET', `/v1/history?limit=${PAGE}${state.cursor ? `&cursor=${encodeURIComponent(state.cursor)}` : ''}`);
      if (state.view !== 'history') return;
      state.total = page.total;
      state.cursor = page.next_cursor;
      state.done = page.next_cursor === null || page.next_cursor === undefined;
      grid.append(...page.data.filter((e) => !shown.has(e.id)).flatMap(entryTiles));
      settleFocus();
      emptyState();
    } catch (error) {
      // A missing or refused key has its own notice (app.js); anything else is said here.
      if (error.status !== 401) ui.notice('history', `History: ${error.message}`);
      state.done = true;
    } finally {
      state.loading = false;
    }
    // Fill the first screen even when the sentinel never leaves view.
    if (!state.done && sentinelVisible()) void loadHistory();
  }

  function emptyState() {
    const empty = state.view === 'history' && state.total === 0 && $('jobs').children.length === 0;
    ui.notice('empty', empty ? 'No images yet. Type a prompt above and press Generate (or Enter); drop an image anywhere on the page to start from a picture.' : null);
  }

  function reset() {
    state.view = 'history';
    state.cursor = null;
    state.done = false;
    state.total = null;
    grid.replaceChildren();
    void loadHistory();
  }

  // ---- search in place: results replace the grid; "Back" brings the grid back as it was.
  function enterSearch(params, label) {
    if (state.view === 'history') state.saved = { nodes: [...grid.children], scroll: window.scrollY };
    state.view = 'search';
    state.search = { params, label };
    state.searchOffset = 0;
    grid.replaceChildren();
    $('search-bar').hidden = false;
    $('search-title').textContent = label;
    $('search-status').textContent = 'Searching…';
  }

  async function searchPage() {
    const { params } = state.search;
    const query = new URLSearchParams({ ...params, limit: '24', offset: String(state.searchOffset) });
    const page = await api('GET', `/v1/images/search?${query}`);
    grid.append(
      ...page.data.map((hit) => tile({ id: hit.generation_id, file: hit.id.slice(hit.id.indexOf('/') + 1), imageId: hit.id, url: hit.url, prompt: hit.prompt, scoreValue: hit.score, created: hit.created })),
    );
    state.searchOffset += page.data.length;
    state.searchMore = page.has_more;
    $('search-more').hidden = !page.has_more;
    return page;
  }

  /** The header's search: CLIP text search (by meaning) and prompt words (history q), one view. */
  async function search(text) {
    enterSearch({ query: text }, `Search: “${text}”`);
    const parts = [];
    try {
      const page = await searchPage();
      parts.push(`${page.total} images ranked by similarity to "${text}"`);
    } catch (error) {
      parts.push(`Search by meaning unavailable: ${error.message}`);
      $('search-more').hidden = true;
    }
    try {
      const words = await api('GET', `/v1/history?limit=${PAGE}&q=${encodeURIComponent(text)}`);
      if (state.search?.params.query !== text) return;
      const cells = words.data.flatMap(entryTiles);
      cells.forEach((c) => c.classList.add('word-match'));
      if (cells.length) grid.append(el('li', { class: 'divider', text: `Prompts containing “${text}” (${words.total})` }), ...cells);
      parts.push(`${words.total} prompts contain "${text}"`);
    } catch (error) {
      parts.push(`prompt search failed: ${error.message}`);
    }
    $('search-status').textContent = parts.join('; ') + '.';
    settleFocus();
  }

  /** same.energy's loop: an image, the images like it, the images like those. */
  async function moreLike(imageId) {
    enterSearch({ like: imageId }, 'More like this');
    try {
      const page = await searchPage();
      $('search-status').textContent = `${page.total} images ranked by similarity to images like the chosen one.`;
      settleFocus();
      allTiles()[0]?.focus();
    } catch (error) {
      $('search-status').textContent = `Search: ${error.message}`;
    }
  }

  function back() {
    state.view = 'history';
    state.search = null;
    $('search-bar').hidden = true;
    $('search-more').hidden = true;
    $('search').value = '';
    grid.replaceChildren(...(state.saved?.nodes ?? []));
    if (state.saved === null) reset();
    else window.scrollTo(0, state.saved.scroll);
    state.saved = null;
    settleFocus();
    allTiles().find((t) => t.tabIndex === 0)?.focus();
  }

  // ---- paging as the sentinel nears the viewport
  const sentinel = $('sentinel');
  function sentinelVisible() {
    return sentinel.getBoundingClientRect().top < window.innerHeight + 600;
  }
  new IntersectionObserver((entries) => {
    if (entries.some((e) => e.isIntersecting) && state.view === 'history') void loadHistory();
  }, { rootMargin: '600px 0px' }).observe(sentinel);

  // ---- keyboard: one tab stop for all tiles (job cards' and the grid's); arrows move by layout.
  function allTiles() {
    return [...document.querySelectorAll('#jobs .tile, #grid .tile')];
  }
  function neighbour(tiles, from, key) {
    const i = tiles.indexOf(from);
    if (key === 'ArrowRight') return tiles[i + 1];
    if (key === 'ArrowLeft') return tiles[i - 1];
    if (key === 'Home') return tiles[0];
    if (key === 'End') return tiles[tiles.length - 1];
    const r = from.getBoundingClientRect();
    const cx = r.left + r.width / 2;
    const below = key === 'ArrowDown';
    const row = tiles.filter((t) => {
      const b = t.getBoundingClientRect();
      return below ? b.top >= r.bottom - 1 : b.bottom <= r.top + 1;
    });
    if (row.length === 0) return undefined;
    const edge = below ? Math.min(...row.map((t) => t.getBoundingClientRect().top)) : Math.max(...row.map((t) => t.getBoundingClientRect().top));
    const line = row.filter((t) => Math.abs(t.getBoundingClientRect().top - edge) < 2);
    return line.reduce((best, t) => {
      const d = Math.abs(t.getBoundingClientRect().left + t.getBoundingClientRect().width / 2 - cx);
      return d < best.d ? { t, d } : best;
    }, { t: undefined, d: Infinity }).t;
  }
  function focusTile(target) {
    if (!target) return;
    for (const t of allTiles()) t.tabIndex = t === target ? 0 : -1;
    target.focus();
    target.scrollIntoView({ block: 'nearest' });
  }
  document.addEventListener('keydown', (event) => {
    const from = event.target;
    if (!(from instanceof HTMLElement) || !from.classList.contains('tile')) return;
    if (!['ArrowRight', 'ArrowLeft', 'ArrowUp', 'ArrowDown', 'Home', 'End'].includes(event.key)) return;
    event.preventDefault();
    focusTile(neighbour(allTiles(), from, event.key));
  });
  document.addEventListener('focusin', (event) => {
    if (event.target instanceof HTMLElement && event.target.classList.contains('tile')) for (const t of allTiles()) t.tabIndex = t === event.target ? 0 : -1;
  });

  $('search-form').addEventListener('submit', (event) => {
    event.preventDefault();
    const text = $('search').value.trim();
    if (text) void search(text);
  });
  $('search-back').addEventListener('click', back);
  $('search-more').addEventListener('click', () => void searchPage().catch((error) => ($('search-status').textContent = `Search: ${error.message}`)));

  return {
    reset,
    moreLike,
    /** New tiles at the top (a settled card): the tab stop moves to the first tile unless a tile has focus. */
    newFirst: () => {
      const tiles = allTiles();
      if (tiles.includes(document.activeElement)) return;
      tiles.forEach((t, i) => (t.tabIndex = i === 0 ? 0 : -1));
    },
    allTiles,
    focusTile,
    emptyState,
    /** Generations shown by a job card are not repeated in the grid. */
    claim: (id) => {
      shown.add(id);
      for (const t of grid.querySelectorAll(`.tile[data-id="${CSS.escape(id)}"]`)) t.closest('li')?.remove();
    },
    /** Removes a deleted generation's tiles everywhere. */
    forget: (id) => {
      for (const t of document.querySelectorAll(`.tile[data-id="${CSS.escape(id)}"]`)) t.closest('li')?.remove();
      if (state.total !== null) state.total -= 1;
      settleFocus();
      emptyState();
    },
    /** More tiles, for the lightbox reaching the end of what is loaded. */
    more: async () => {
      if (state.view === 'history') await loadHistory();
      else if (state.searchMore) await searchPage();
    },
  };
}
