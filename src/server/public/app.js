// Tessera gallery: plain ES module, no dependencies, nothing inline (the page's CSP forbids it).
import { setupImagePrompts } from './image-prompt.js';
const $ = (id) => document.getElementById(id);
const state = { job: null, historyOffset: 0, historyQuery: '', search: null, searchOffset: 0 };

const keyInput = $('api-key');
keyInput.value = localStorage.getItem('tessera.apiKey') ?? '';
keyInput.addEventListener('change', () => localStorage.setItem('tessera.apiKey', keyInput.value));

function headers(extra = {}) {
  const key = keyInput.value.trim();
  return key ? { ...extra, authorization: `Bearer ${key}` } : extra;
}

async function api(method, url, body) {
  const response = await fetch(url, {
    method,
    headers: headers(body === undefined ? {} : { 'content-type': 'application/json' }),
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const data = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(data.error?.message ?? `HTTP ${response.status}`);
  return data;
}

function setStatus(text, isError = false) {
  $('status').textContent = text;
  $('status').classList.toggle('error', isError);
}

function el(tag, props = {}, children = []) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === 'class') node.className = v;
    else if (k === 'text') node.textContent = v;
    else node.setAttribute(k, v);
  }
  for (const child of children) node.append(child);
  return node;
}

async function loadModels() {
  try {
    const { data } = await api('GET', '/v1/models');
    const model = data[0];
    $('model-info').textContent = `${model.id} · native ${model.native_size} · ${model.steps} steps`;
    const select = $('size');
    select.replaceChildren(...model.sizes.map((s, i) => el('option', { value: s, text: i === 0 ? `${s} (native)` : `${s} (upscaled)` })));
    imagePrompts.setSize(Number(model.native_size.split('x')[0]));
    $('candidates').value = String(model.sampling.candidates);
    $('n').value = String(Math.min(model.sampling.keep, model.sampling.candidates));
  } catch (error) {
    setStatus(`Cannot list models: ${error.message}`, true);
  }
}

function numberField(id) {
  const v = $(id).value.trim();
  return v === '' ? undefined : Number(v);
}

function requestBody() {
  const body = {
    prompt: $('prompt').value,
    candidates: numberField('candidates'),
    n: numberField('n'),
    size: $('size').value || undefined,
    seed: numberField('seed'),
    temperature: numberField('temperature'),
    top_k: numberField('top_k'),
    top_p: numberField('top_p'),
    guidance_scale: numberField('guidance_scale'),
    preview_every: numberField('preview_every'),
    negative_prompt: $('negative_prompt').value.trim() || undefined,
  };
  return Object.fromEntries(Object.entries(body).filter(([, v]) => v !== undefined));
}

/** Reads an SSE response with fetch (EventSource cannot send the API key). */
async function* readEvents(response) {
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  while (true) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let cut;
    while ((cut = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      const data = block.split('\n').filter((l) => l.startsWith('data: ')).map((l) => l.slice(6)).join('\n');
      if (data) yield JSON.parse(data);
    }
  }
}

function showPreviews(images) {
  $('previews').replaceChildren(...images.map((b64) => el('img', { src: `data:image/png;base64,${b64}`, alt: 'preview' })));
}

/** "More like this": a button that searches by a stored image's embedding (ids are "<generation id>/<file>"). */
function moreLikeButton(id) {
  const button = el('button', { type: 'button', class: 'more-like', text: 'More like this', 'data-like': id });
  button.addEventListener('click', () => runSearch({ like: id }, true));
  return button;
}

/** One line of what the request cost (tessera_footprint / record.footprint). */
function footprintText(f) {
  if (!f) return '';
  const flops = f.flops ? `${(f.flops.total / 1e9).toFixed(1)} GFLOP, ` : '';
  const co2 = f.co2e_g >= 1 ? `${f.co2e_g.toFixed(2)} g` : `${(f.co2e_g * 1000).toFixed(2)} mg`;
  return `Footprint: ${flops}${f.energy_j.toFixed(1)} J (${f.energy_method === 'rapl' ? 'RAPL' : 'CPU-time estimate'}), ${co2} CO2e at ${Math.round(f.grid_intensity_g_per_kwh)} g/kWh.`;
}

function showResult(record) {
  $('previews').replaceChildren();
  $('results-title').hidden = false;
  const keptFile = new Map(record.images.map((image) => [image.candidate_index, image.file]));
  const cards = record.candidates.map((c) => {
    const img = el('img', { src: c.url, alt: `candidate ${c.candidate_index}`, loading: 'lazy' });
    const caption = el('figcaption', {}, [
      el('span', { class: 'rank', text: `#${c.rank}` }),
      el('span', { class: 'score', text: c.clip_score === null ? 'no score' : c.clip_score.toFixed(3) }),
      c.kept ? el('span', { class: 'badge', text: 'kept' }) : '',
    ]);
    // Kept images are indexed for search: each can ask for more like it.
    const like = c.kept && keptFile.has(c.candidate_index) ? [moreLikeButton(`${record.id}/${keptFile.get(c.candidate_index)}`)] : [];
    const figure = el('figure', { class: `candidate${c.kept ? ' kept' : ''}`, 'data-rank': String(c.rank), title: `seed ${c.seed}, candidate ${c.candidate_index}` }, [img, caption, imagePrompts.actionsFor(c.url), ...like]);
    return figure;
  });
  $('results').replaceChildren(...cards);
  const t = record.timings?.total;
  // Words the model does not know and truncation are shown, never silently dropped.
  const warnings = record.warnings?.length ? ` Warning: ${record.warnings.join('; ')}` : '';
  const footprint = record.footprint ? ` ${footprintText(record.footprint)}` : '';
  setStatus(`Done: ${record.candidates.length} candidates, ${record.images.length} kept, seed ${record.seed}${t ? `, ${(t / 1000).toFixed(2)} s` : ''}${record.upscaled ? ` (upscaled to ${record.size})` : ''}.${footprint}${warnings}`);
}

/** Images of an edit, completion or variation (OpenAI's response `data`), best first. */
function showImages(images, title) {
  $('previews').replaceChildren();
  $('results-title').hidden = false;
  $('results-title').textContent = title;
  $('results').replaceChildren(
    ...images.map((image) => {
      const caption = el('figcaption', {}, [
        el('span', { class: 'rank', text: `#${image.rank}` }),
        el('span', { class: 'score', text: image.clip_score === null ? 'no score' : image.clip_score.toFixed(3) }),
      ]);
      const img = el('img', { src: image.url, alt: `result ${image.rank}` });
      return el('figure', { class: 'candidate kept', 'data-rank': String(image.rank), title: `seed ${image.seed}, candidate ${image.candidate_index}` }, [img, caption, imagePrompts.actionsFor(image.url)]);
    }),
  );
}

const imagePrompts = setupImagePrompts({ headers, setStatus, el, showImages, refreshHistory: () => loadHistory(true) });

async function generate(event) {
  event.preventDefault();
  $('generate').disabled = true;
  $('cancel').disabled = false;
  $('results').replaceChildren();
  $('results-title').hidden = true;
  $('results-title').textContent = 'Candidates, ranked by CLIP score';
  $('previews').replaceChildren();
  const progress = $('progress');
  progress.hidden = false;
  progress.value = 0;
  try {
    const job = await api('POST', '/v1/jobs', requestBody());
    state.job = job.id;
    setStatus(`Queued (position ${job.queue_position ?? 1})`);
    const response = await fetch(job.links.events, { headers: headers() });
    if (!response.ok) throw new Error(`events: HTTP ${response.status}`);
    for await (const e of readEvents(response)) {
      if (e.type === 'queued') setStatus(`Queued (position ${e.position})`);
      else if (e.type === 'started') setStatus('Sampling…');
      else if (e.type === 'progress') {
        progress.max = e.steps;
        progress.value = e.step;
        setStatus(`Sampling: step ${e.step} / ${e.steps}${e.tokens_per_second ? ` · ${e.tokens_per_second} tok/s` : ''}`);
      } else if (e.type === 'preview') showPreviews(e.images);
      else if (e.type === 'result') {
        progress.value = progress.max;
        showResult(e.result);
        loadHistory(true);
      } else if (e.type === 'error') setStatus(`${e.status === 'cancelled' ? 'Cancelled' : 'Failed'}: ${e.error.message}`, e.status !== 'cancelled');
    }
  } catch (error) {
    setStatus(error.message, true);
  } finally {
    state.job = null;
    $('generate').disabled = false;
    $('cancel').disabled = true;
  }
}

async function cancel() {
  if (state.job === null) return;
  try {
    await api('DELETE', `/v1/jobs/${state.job}`);
  } catch (error) {
    setStatus(error.message, true);
  }
}

async function openRecord(id) {
  try {
    const record = await api('GET', `/v1/history/${id}`);
    $('prompt').value = record.prompt;
    showResult(record);
  } catch (error) {
    setStatus(error.message, true);
  }
}

async function loadHistory(reset = false) {
  if (reset) state.historyOffset = 0;
  const q = encodeURIComponent(state.historyQuery);
  try {
    const { data, total } = await api('GET', `/v1/history?limit=20&offset=${state.historyOffset}&q=${q}`);
    const items = data.map((entry) => {
      const thumb = entry.thumbnail_url ? el('img', { src: entry.thumbnail_url, alt: '' }) : el('span');
      const prompt = el('span', { class: 'prompt', text: entry.prompt, title: `${new Date(entry.created * 1000).toLocaleString()} · seed ${entry.seed}`, role: 'button', tabindex: '0' });
      prompt.addEventListener('click', () => openRecord(entry.id));
      const del = el('button', { type: 'button', class: 'delete', text: 'Delete', 'aria-label': `delete ${entry.prompt}` });
      del.addEventListener('click', async () => {
        try {
          await api('DELETE', `/v1/history/${entry.id}`);
          li.remove();
        } catch (error) {
          setStatus(error.message, true);
        }
      });
      const like = entry.thumbnail ? [moreLikeButton(`${entry.id}/${entry.thumbnail}`)] : [];
      const li = el('li', { 'data-id': entry.id }, [thumb, prompt, ...like, del]);
      return li;
    });
    if (reset) $('history').replaceChildren(...items);
    else $('history').append(...items);
    state.historyOffset += data.length;
    $('history-more').hidden = state.historyOffset >= total;
  } catch (error) {
    setStatus(`History: ${error.message}`, true);
  }
}

/** GET /v1/images/search by text (`query`) or likeness (`like`), 20 a page; "More" continues. */
async function runSearch(params, reset) {
  if (reset) {
    state.search = params;
    state.searchOffset = 0;
  }
  const query = new URLSearchParams({ ...state.search, limit: '20', offset: String(state.searchOffset) });
  try {
    const page = await api('GET', `/v1/images/search?${query}`);
    const cards = page.data.map((hit) => {
      const img = el('img', { src: hit.url, alt: hit.prompt, loading: 'lazy' });
      const caption = el('figcaption', {}, [el('span', { class: 'score', text: hit.score.toFixed(3) }), el('span', { class: 'prompt', text: hit.prompt })]);
      return el('figure', { class: 'hit', 'data-id': hit.id, title: new Date(hit.created * 1000).toLocaleString() }, [img, caption, moreLikeButton(hit.id)]);
    });
    if (reset) $('search-results').replaceChildren(...cards);
    else $('search-results').append(...cards);
    state.searchOffset += page.data.length;
    $('search-more').hidden = !page.has_more;
    const what = state.search.query !== undefined ? `"${state.search.query}"` : 'images like the chosen one';
    $('search-status').textContent = `${page.total} images ranked by similarity to ${what}; showing ${state.searchOffset}.`;
  } catch (error) {
    $('search-status').textContent = `Search: ${error.message}`;
  }
}

$('image-search-form').addEventListener('submit', (e) => {
  e.preventDefault();
  const text = $('image-search').value.trim();
  if (text) runSearch({ query: text }, true);
});
$('search-more').addEventListener('click', () => runSearch(state.search, false));
$('generate-form').addEventListener('submit', generate);
$('cancel').addEventListener('click', cancel);
$('history-form').addEventListener('submit', (e) => {
  e.preventDefault();
  state.historyQuery = $('history-search').value;
  loadHistory(true);
});
$('history-more').addEventListener('click', () => loadHistory(false));
loadModels();
loadHistory(true);
