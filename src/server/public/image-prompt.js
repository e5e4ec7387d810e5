// Image prompts: vary, complete and edit a result or any picture, with a painted mask for
// edits. Requests go to the OpenAI-style multipart routes (/v1/images/variations,
// /v1/images/edits; an edit with keep_rows is a completion) and land as cards in the grid.
// The view opens from the header, from the lightbox, or by dropping an image anywhere.
import { $, api, imageBlob } from './api.js';

const toBlob = (canvas) => new Promise((resolve) => canvas.toBlob(resolve, 'image/png'));

/** Paints opaque strokes on a canvas overlay (shown half transparent): what an edit changes. */
export function painter(mask, brushSize) {
  const context = mask.getContext('2d');
  let painting = false;
  function paint(event) {
    const rect = mask.getBoundingClientRect();
    const x = ((event.clientX - rect.left) * mask.width) / rect.width;
    const y = ((event.clientY - rect.top) * mask.height) / rect.height;
    context.fillStyle = '#ff2060';
    context.beginPath();
    context.arc(x, y, brushSize() / 2, 0, Math.PI * 2);
    context.fill();
  }
  mask.addEventListener('pointerdown', (event) => {
    painting = true;
    mask.setPointerCapture(event.pointerId);
    paint(event);
  });
  mask.addEventListener('pointermove', (event) => painting && paint(event));
  mask.addEventListener('pointerup', () => (painting = false));
  return {
    clear: () => context.clearRect(0, 0, mask.width, mask.height),
    /** The mask PNG: opaque everywhere but the painted pixels, which are fully transparent (OpenAI's convention). */
    blob: async () => {
      const out = document.createElement('canvas');
      out.width = mask.width;
      out.height = mask.height;
      const c = out.getContext('2d');
      c.fillStyle = '#000000';
      c.fillRect(0, 0, out.width, out.height);
      c.globalCompositeOperation = 'destination-out';
      c.drawImage(mask, 0, 0);
      return toBlob(out);
    },
  };
}

/** ui: { jobs (createJobs'), sampling(): { candidates, n, seed } (strings, maybe empty), prompt(): string } */
export function setupImagePrompts(ui) {
  const view = $('image-prompt-view');
  const source = $('source-canvas');
  const mask = $('mask-canvas');
  const sourceContext = source.getContext('2d');
  const brush = () => Number($('brush').value) || 6;
  const paint = painter(mask, brush);
  let side = 64;
  let hasSource = false;

  function setSize(value) {
    side = value;
    for (const canvas of [source, mask]) {
      canvas.width = side;
      canvas.height = side;
    }
    hasSource = false;
    enable();
  }

  function enable() {
    for (const id of ['vary', 'complete', 'edit']) $(id).disabled = !hasSource;
  }

  /** Draws a bitmap centre-cropped to a square at the model's size (as the server would). */
  function draw(context, bitmap) {
    const s = Math.min(bitmap.width, bitmap.height);
    context.fillStyle = '#ffffff';
    context.fillRect(0, 0, side, side);
    context.drawImage(bitmap, (bitmap.width - s) / 2, (bitmap.height - s) / 2, s, s, 0, 0, side, side);
  }

  function setSource(bitmap) {
    draw(sourceContext, bitmap);
    paint.clear();
    hasSource = true;
    enable();
  }

  /** The source PNG of a stored image (its URL as the API gave it), at the model's size. */
  async function sourceOf(url) {
    const canvas = document.createElement('canvas');
    canvas.width = side;
    canvas.height = side;
    draw(canvas.getContext('2d'), await createImageBitmap(await imageBlob(url)));
    return toBlob(canvas);
  }

  /** Sends one image prompt; its results arrive as a card. */
  function run(action, image, maskPng, prompt) {
    const form = new FormData();
    form.append('image', image, 'source.png');
    const sampling = ui.sampling();
    for (const id of ['candidates', 'n', 'seed']) if (sampling[id] !== '') form.append(id, sampling[id]);
    form.append('response_format', 'url');
    let route = '/v1/images/edits';
    if (action === 'vary') {
      route = '/v1/images/variations';
      form.append('keep_share', $('keep_share').value);
    } else {
      form.append('prompt', prompt);
      if (action === 'complete') form.append('keep_rows', $('keep_rows').value);
      else form.append('mask', maskPng, 'mask.png');
    }
    const label = action === 'vary' ? 'Variations' : `${action === 'complete' ? 'Completion' : 'Edit'}: ${prompt}`;
    return ui.jobs.imagePrompt(label, (signal) => api('POST', route, form, signal));
  }

  function open(note) {
    $('ip-prompt').value = $('ip-prompt').value || ui.prompt();
    $('ip-note').textContent = note ?? '';
    if (!view.open) view.showModal();
  }

  async function fromFile(file) {
    try {
      setSource(await createImageBitmap(file));
      open('Image loaded: paint over what to change and press Edit, or vary or complete it.');
    } catch {
      open('That file is not an image the browser can read.');
    }
  }

  paint.clear();
  $('clear-mask').addEventListener('click', paint.clear);
  $('source-file').addEventListener('change', () => {
    const file = $('source-file').files?.[0];
    if (file) void fromFile(file);
  });
  for (const action of ['vary', 'complete', 'edit']) {
    $(action).addEventListener('click', async () => {
      if (!hasSource) return;
      const [image, maskPng] = await Promise.all([toBlob(source), action === 'edit' ? paint.blob() : null]);
      view.close();
      await run(action, image, maskPng, $('ip-prompt').value);
    });
  }
  $('open-image-prompt').addEventListener('click', () => open());
  $('ip-close').addEventListener('click', () => view.close());

  // Drop an image anywhere on the page to start an image prompt.
  const overlay = $('drop-overlay');
  const hasFiles = (event) => [...(event.dataTransfer?.types ?? [])].includes('Files');
  document.addEventListener('dragover', (event) => {
    if (!hasFiles(event)) return;
    event.preventDefault();
    overlay.hidden = false;
  });
  document.addEventListener('dragleave', (event) => {
    if (event.relatedTarget === null) overlay.hidden = true;
  });
  document.addEventListener('drop', (event) => {
    if (!hasFiles(event)) return;
    event.preventDefault();
    overlay.hidden = true;
    const file = [...event.dataTransfer.files].find((f) => f.type.startsWith('image/'));
    if (file) void fromFile(file);
  });

  return { setSize, run, sourceOf, open, side: () => side };
}
