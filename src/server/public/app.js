// Tessera gallery: the grid is the page. Plain ES modules, no dependencies, nothing inline
// (the page's CSP forbids it); every request goes to this origin.
import { $, api, el, apiKey, onFailure } from './api.js';
import { createGrid } from './grid.js';
import { createJobs } from './jobs.js';
import { setupImagePrompts } from './image-prompt.js';
import { createLightbox } from './lightbox.js';

const keyInput = $('api-key');
keyInput.value = localStorage.getItem('tessera.apiKey') ?? '';

/** Keyed notices above the grid: what a new user should do now (null clears one). */
function notice(kind, text) {
  const box = $('notices');
  const old = box.querySelector(`[data-kind="${kind}"]`);
  if (text === null || text === undefined) return old?.remove();
  if (old) old.textContent = text;
  else box.append(el('p', { class: `notice ${kind}`, 'data-kind': kind, text }));
}

onFailure((error) => {
  if (error.status === 401) {
    notice('key', apiKey() === '' ? 'This server needs an API key: enter it in the API key box at the top and press Enter.' : `The API key was refused (${error.message}): check it in the API key box at the top.`);
    if (apiKey() === '') keyInput.focus();
  } else if (error.status === 503) {
    void checkReady();
  }
});

const late = {};
const grid = createGrid({ open: (tile) => late.lightbox.open(tile), notice });
const jobs = createJobs({ open: (tile) => late.lightbox.open(tile), grid });

function fieldValue(id) {
  return $(id).value.trim();
}
const imagePrompts = setupImagePrompts({
  jobs,
  prompt: () => $('prompt').value,
  sampling: () => ({ candidates: fieldValue('candidates'), n: fieldValue('n'), seed: fieldValue('seed') }),
});
late.lightbox = createLightbox({ grid, imagePrompts, rerun });

function numberField(id) {
  const v = fieldValue(id);
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
    negative_prompt: fieldValue('negative_prompt') || undefined,
  };
  return Object.fromEntries(Object.entries(body).filter(([, v]) => v !== undefined));
}

/** "Run again with this seed": the form shows what runs, then it runs as a new card. */
function rerun(body) {
  $('prompt').value = body.prompt;
  $('negative_prompt').value = body.negative_prompt ?? '';
  $('seed').value = String(body.seed);
  if (body.candidates !== undefined) $('candidates').value = String(body.candidates);
  if (body.n !== undefined) $('n').value = String(body.n);
  void jobs.generate(requestBody());
}

async function loadModels() {
  try {
    const { data } = await api('GET', '/v1/models');
    const model = data[0];
    notice('key', null);
    $('model-info').textContent = `${model.id} · ${model.native_size}`;
    $('model-info').title = `${model.id}: native ${model.native_size}, ${model.steps} steps`;
    $('size').replaceChildren(...model.sizes.map((s, i) => el('option', { value: s, text: i === 0 ? `${s} (native)` : `${s} (upscaled)` })));
    imagePrompts.setSize(Number(model.native_size.split('x')[0]));
    $('candidates').value = String(model.sampling.candidates);
    $('n').value = String(Math.min(model.sampling.keep, model.sampling.candidates));
    return true;
  } catch (error) {
    if (error.status !== 401) notice('models', `Cannot list models: ${error.message}`);
    return false;
  }
}

let readyTimer = null;
/** /readyz answers 503 while a model loads: say so, and check again until it is ready. */
async function checkReady() {
  clearTimeout(readyTimer);
  try {
    const response = await fetch('/readyz');
    if (response.ok) {
      notice('ready', null);
      return;
    }
    const body = await response.json().catch(() => ({}));
    notice('ready', body.status === 'not_ready' ? 'The server is still loading its model: generation starts working in a moment (this page checks again by itself).' : `The server is not ready (HTTP ${response.status}).`);
  } catch {
    notice('ready', 'The server cannot be reached: is `tessera serve` running?');
  }
  readyTimer = setTimeout(checkReady, 2000);
}

$('generate-form').addEventListener('submit', (event) => {
  event.preventDefault();
  if ($('prompt').value.trim() === '') return;
  void jobs.generate(requestBody());
});
// Enter generates; Shift+Enter is a new line.
$('prompt').addEventListener('keydown', (event) => {
  if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    $('generate-form').requestSubmit();
  }
});
keyInput.addEventListener('change', async () => {
  localStorage.setItem('tessera.apiKey', keyInput.value);
  notice('key', null);
  notice('history', null);
  if (await loadModels()) grid.reset();
});

void checkReady();
void loadModels();
grid.reset();
