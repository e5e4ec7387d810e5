// Tessera gallery: plain ES module, no dependencies, nothing inline (the page's CSP forbids it).
import { setupImagePrompts } from './image-prompt.js';
const $ = (id) => document.getElementById(id);
const state = { job: null, historyOffset: 0, historyQuery: '' };

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

function showResult(record) {
  $('previews').replaceChildren();
  $('results-title').hidden = false;
  const cards = record.candidates.map((c) => {
    const img = el('img', { src: c.url, alt: `candidate ${c.candidate_index}`, loading: 'lazy' });
    const caption = el('figcaption', {}, [
      el('span', { class: 'rank', text: `#${c.rank}` }),
      el('span', { class: 'score', text: c.clip_score === null ? 'no score' : c.clip_score.toFixed(3) }),
      c.kept ? el('span', { class: 'badge', text: 'kept' }) : '',
    ]);
    const figure = el('figure', { class: `candidate${c.kept ? ' kept' : ''}`, 'data-rank': String(c.rank), title: `seed ${c.seed}, candidate ${c.candidate_index}` }, [img, caption, imagePrompts.actionsFor(c.url)]);
    return figure;
  });
  $('results').replaceChildren(...cards);
  const t = record.timings?.total;
  // Words the model does not know and truncation are shown, never silently dropped.
  const warnings = record.warnings?.length ? ` Warning: ${record.warnings.join('; ')}` : '';
  setStatus(`Done: ${record.candidates.length} candidates, ${record.images.length} kept, seed ${record.seed}${t ? `, ${(t / 1000).toFixed(2)} s` : ''}${record.upscaled ? ` (upscaled to ${record.size})` : ''}.${warnings}`);
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
      const li = el('li', { 'data-id': entry.id }, [thumb, prompt, del]);
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
