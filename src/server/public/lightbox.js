// The lightbox: one image large with everything about it and what can be done with it.
// Arrows move through the tiles of the grid (or of the search results), Escape closes and
// gives focus back to the tile, Enter on a tile opens it.
import { $, api, el, thumb, score, footprintText } from './api.js';
import { painter } from './image-prompt.js';

/** ui: { grid, imagePrompts, rerun(body) } */
export function createLightbox(ui) {
  const box = $('lightbox');
  const records = new Map();
  const mask = painter($('lb-mask'), () => Number($('brush').value) || 6);
  let current = { tile: null, record: null, image: null };
  let deleteArmed = false;

  async function record(id) {
    if (!records.has(id)) records.set(id, await api('GET', `/v1/history/${id}`));
    return records.get(id);
  }

  function pick(rec, tile) {
    const candidate = tile.dataset.candidate;
    const file = tile.dataset.file;
    const all = [...rec.images, ...rec.candidates];
    return (candidate !== undefined && rec.images.find((i) => String(i.candidate_index) === candidate)) || (file !== undefined && all.find((i) => i.file === file)) || rec.images[0] || rec.candidates[0];
  }

  function row(term, value) {
    return value === null || value === undefined || value === '' ? [] : [el('dt', { text: term }), el('dd', { text: String(value) })];
  }

  function settingsText(settings) {
    return Object.entries(settings ?? {}).map(([k, v]) => `${k} ${v}`).join(', ');
  }

  function usageText(usage) {
    if (!usage) return null;
    return Object.entries(usage).filter(([, v]) => typeof v === 'number').map(([k, v]) => `${k.replace(/_/g, ' ')} ${v}`).join(', ');
  }

  function show(image) {
    const rec = current.record;
    current.image = image;
    endEdit();
    const big = $('lb-image');
    big.src = image.url;
    big.alt = `${rec.prompt} (rank ${image.rank})`;
    $('lb-title').textContent = rec.prompt || '(no prompt)';
    $('lb-meta').replaceChildren(
      ...row('Negative prompt', rec.negative_prompt),
      ...row('Seed', image.seed === rec.seed ? rec.seed : `${rec.seed} (this candidate's stream: ${image.seed})`),
      ...row('Candidate', image.candidate_index),
      ...row('Rank', `${image.rank} of ${rec.candidates.length}${image.kept ? ' (kept)' : ''}`),
      ...row('CLIP score', score(image.clip_score)),
      ...row('Model', rec.model),
      ...row('Size', `${rec.size}${rec.upscaled ? ` (upscaled from ${rec.native_size})` : ''}`),
      ...row('Sampling', settingsText(rec.settings)),
      ...row('Usage', usageText(rec.usage)),
      ...row('Footprint', footprintText(rec.footprint).replace(/^Footprint: /, '')),
      ...row('Image prompt', rec.image_prompt ? rec.image_prompt.mode ?? 'yes' : null),
      ...row('Created', new Date(rec.created * 1000).toLocaleString()),
      ...row('Warnings', rec.warnings?.join('; ')),
    );
    const seen = new Set();
    const strip = [...rec.images, ...rec.candidates.filter((c) => !c.kept)].filter((i) => !seen.has(i.url) && seen.add(i.url));
    $('lb-strip').replaceChildren(
      ...strip.map((i) => el('li', {}, [el('button', { type: 'button', class: i === image ? 'chosen' : '', 'aria-pressed': String(i === image), 'aria-label': `${i.kept ? 'kept' : 'candidate'} ${i.candidate_index}, rank ${i.rank}`, on: { click: () => show(i) } }, [thumb(i.url, '', false)])])),
    );
    const download = $('lb-download');
    download.href = image.url;
    download.setAttribute('download', `tessera-${rec.id}-${image.file}`);
    $('lb-like').disabled = !image.kept;
    $('lb-status').textContent = '';
    deleteArmed = false;
    $('lb-delete').textContent = 'Delete';
  }

  async function open(tile) {
    current.tile = tile;
    // Nothing of the image shown before stays actionable while this one loads: a click on
    // Edit meanwhile acted on the old image, and show() then closed its edit bar again.
    current.record = null;
    current.image = null;
    endEdit();
    $('lb-meta').replaceChildren();
    if (!box.open) box.showModal();
    $('lb-status').textContent = 'Loading…';
    try {
      current.record = await record(tile.dataset.id);
      if (current.tile !== tile) return;
      show(pick(current.record, tile));
    } catch (error) {
      $('lb-status').textContent = error.message;
    }
  }

  async function step(delta) {
    let tiles = ui.grid.allTiles();
    let i = tiles.indexOf(current.tile);
    if (i + delta >= tiles.length) {
      await ui.grid.more();
      tiles = ui.grid.allTiles();
      i = tiles.indexOf(current.tile);
    }
    const next = tiles[i + delta];
    if (next) await open(next);
  }

  function close() {
    if (box.open) box.close();
  }

  function endEdit() {
    $('lb-mask').hidden = true;
    $('lb-edit-bar').hidden = true;
  }

  async function act(action) {
    const rec = current.record;
    const image = current.image;
    if (!rec || !image) return;
    const status = $('lb-status');
    try {
      if (action === 'copy') {
        await navigator.clipboard.writeText(rec.prompt);
        status.textContent = 'Prompt copied.';
      } else if (action === 'rerun') {
        close();
        ui.rerun({ prompt: rec.prompt, negative_prompt: rec.negative_prompt ?? undefined, seed: rec.seed, candidates: rec.settings?.candidates, n: rec.images.length || undefined });
      } else if (action === 'vary' || action === 'complete') {
        const source = await ui.imagePrompts.sourceOf(image.url);
        close();
        void ui.imagePrompts.run(action, source, null, rec.prompt);
      } else if (action === 'edit') {
        const canvas = $('lb-mask');
        canvas.width = ui.imagePrompts.side();
        canvas.height = ui.imagePrompts.side();
        mask.clear();
        canvas.hidden = false;
        $('lb-edit-bar').hidden = false;
        $('lb-edit-prompt').value = rec.prompt;
        status.textContent = 'Paint over the part to change, then Apply edit.';
      } else if (action === 'apply-edit') {
        const [source, maskPng] = await Promise.all([ui.imagePrompts.sourceOf(image.url), mask.blob()]);
        close();
        void ui.imagePrompts.run('edit', source, maskPng, $('lb-edit-prompt').value);
      } else if (action === 'like') {
        close();
        await ui.grid.moreLike(`${rec.id}/${image.file}`);
      } else if (action === 'delete') {
        if (!deleteArmed) {
          deleteArmed = true;
          $('lb-delete').textContent = 'Delete: press again to confirm';
          return;
        }
        await api('DELETE', `/v1/history/${rec.id}`);
        records.delete(rec.id);
        // The generation's other kept images go with it: move on to the nearest tile of another.
        const tiles = ui.grid.allTiles();
        const at = tiles.indexOf(current.tile);
        const others = (t) => t.dataset.id !== rec.id;
        const next = tiles.slice(at + 1).find(others) ?? tiles.slice(0, Math.max(at, 0)).reverse().find(others);
        ui.grid.forget(rec.id);
        if (next && next.isConnected) await open(next);
        else close();
      }
    } catch (error) {
      status.textContent = error.message;
    }
  }

  for (const [id, action] of [['lb-copy', 'copy'], ['lb-rerun', 'rerun'], ['lb-vary', 'vary'], ['lb-complete', 'complete'], ['lb-edit', 'edit'], ['lb-apply-edit', 'apply-edit'], ['lb-like', 'like'], ['lb-delete', 'delete']]) {
    $(id).addEventListener('click', () => void act(action));
  }
  $('lb-cancel-edit').addEventListener('click', endEdit);
  $('lb-clear-mask').addEventListener('click', mask.clear);
  $('lb-prev').addEventListener('click', () => void step(-1));
  $('lb-next').addEventListener('click', () => void step(1));
  $('lb-close').addEventListener('click', close);
  box.addEventListener('keydown', (event) => {
    if (event.target instanceof HTMLInputElement || event.target instanceof HTMLTextAreaElement) return;
    if (event.key === 'ArrowRight' || event.key === 'ArrowDown') void step(1);
    else if (event.key === 'ArrowLeft' || event.key === 'ArrowUp') void step(-1);
    else return;
    event.preventDefault();
  });
  // Escape closes the dialog natively; focus goes back to the tile shown last.
  box.addEventListener('close', () => {
    endEdit();
    if (current.tile?.isConnected) ui.grid.focusTile(current.tile);
  });
  box.addEventListener('click', (event) => {
    if (event.target === box) close();
  });

  return { open, close };
}
