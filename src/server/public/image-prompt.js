// Image prompts in the gallery: vary, complete and edit any result or uploaded image, with a
// painted mask for edits. Requests go to the OpenAI-style multipart routes
// (/v1/images/variations, /v1/images/edits; an edit with keep_rows is a completion).
// Plain ES module, nothing inline (the page's CSP forbids it).
const $ = (id) => document.getElementById(id);

/**
 * ui: { headers(), setStatus(text, isError), el(tag, props, children), showImages(images, title), refreshHistory() }
 */
export function setupImagePrompts(ui) {
  const source = $('source-canvas');
  const mask = $('mask-canvas');
  const sourceContext = source.getContext('2d');
  const maskContext = mask.getContext('2d');
  let hasSource = false;
  let painting = false;

  function setSize(side) {
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

  /** Draws a bitmap into the source canvas, centre-cropped to a square (as the server would). */
  function setSource(bitmap) {
    const side = Math.min(bitmap.width, bitmap.height);
    sourceContext.fillStyle = '#ffffff';
    sourceContext.fillRect(0, 0, source.width, source.height);
    sourceContext.drawImage(bitmap, (bitmap.width - side) / 2, (bitmap.height - side) / 2, side, side, 0, 0, source.width, source.height);
    maskContext.clearRect(0, 0, mask.width, mask.height);
    hasSource = true;
    enable();
  }

  async function sourceFromUrl(url) {
    const response = await fetch(url, { headers: ui.headers() });
    if (!response.ok) throw new Error(`cannot load the image: HTTP ${response.status}`);
    setSource(await createImageBitmap(await response.blob()));
  }

  // Painting: opaque strokes on the overlay (shown half transparent by the stylesheet) mark what to change.
  function paint(event) {
    const rect = mask.getBoundingClientRect();
    const x = ((event.clientX - rect.left) * mask.width) / rect.width;
    const y = ((event.clientY - rect.top) * mask.height) / rect.height;
    const radius = (Number($('brush').value) || 6) / 2;
    maskContext.fillStyle = '#ff2060';
    maskContext.beginPath();
    maskContext.arc(x, y, radius, 0, Math.PI * 2);
    maskContext.fill();
  }
  mask.addEventListener('pointerdown', (event) => {
    painting = true;
    mask.setPointerCapture(event.pointerId);
    paint(event);
  });
  mask.addEventListener('pointermove', (event) => painting && paint(event));
  mask.addEventListener('pointerup', () => (painting = false));
  $('clear-mask').addEventListener('click', () => maskContext.clearRect(0, 0, mask.width, mask.height));

  const toBlob = (canvas) => new Promise((resolve) => canvas.toBlob(resolve, 'image/png'));

  /** The mask PNG: opaque everywhere but the painted pixels, which are fully transparent (OpenAI's convention). */
  async function maskBlob() {
    const out = document.createElement('canvas');
    out.width = mask.width;
    out.height = mask.height;
    const context = out.getContext('2d');
    context.fillStyle = '#000000';
    context.fillRect(0, 0, out.width, out.height);
    context.globalCompositeOperation = 'destination-out';
    context.drawImage(mask, 0, 0);
    return toBlob(out);
  }

  function commonFields(form) {
    for (const id of ['candidates', 'n', 'seed']) {
      const value = $(id).value.trim();
      if (value !== '') form.append(id, value);
    }
    form.append('response_format', 'url');
  }

  async function run(action) {
    if (!hasSource) return;
    const form = new FormData();
    form.append('image', await toBlob(source), 'source.png');
    commonFields(form);
    let route = '/v1/images/edits';
    if (action === 'vary') {
      route = '/v1/images/variations';
      form.append('keep_share', $('keep_share').value);
    } else {
      form.append('prompt', $('prompt').value);
      if (action === 'complete') form.append('keep_rows', $('keep_rows').value);
      else form.append('mask', await maskBlob(), 'mask.png');
    }
    for (const id of ['vary', 'complete', 'edit']) $(id).disabled = true;
    ui.setStatus(action === 'vary' ? 'Making variations…' : action === 'complete' ? 'Completing…' : 'Editing…');
    try {
      const response = await fetch(route, { method: 'POST', headers: ui.headers(), body: form });
      const data = await response.json().catch(() => ({}));
      if (!response.ok) throw new Error(data.error?.message ?? `HTTP ${response.status}`);
      const label = action === 'vary' ? 'Variations, ranked by likeness to the source' : action === 'complete' ? 'Completions' : 'Edits';
      ui.showImages(data.data, label);
      const notes = [data.input_adjusted ? `input ${data.input_adjusted}` : null, ...(data.warnings ?? []).filter((w) => !w.startsWith('input image'))].filter(Boolean);
      ui.setStatus(`Done: ${data.data.length} image${data.data.length === 1 ? '' : 's'} (${action}).${notes.length ? ` ${notes.join('; ')}` : ''}`);
      ui.refreshHistory();
    } catch (error) {
      ui.setStatus(error.message, true);
    } finally {
      enable();
    }
  }

  $('source-file').addEventListener('change', async () => {
    const file = $('source-file').files?.[0];
    if (!file) return;
    try {
      setSource(await createImageBitmap(file));
      ui.setStatus('Image loaded: paint over what to change, or vary or complete it.');
    } catch {
      ui.setStatus('That file is not an image the browser can read.', true);
    }
  });
  for (const action of ['vary', 'complete', 'edit']) $(action).addEventListener('click', () => run(action));

  return {
    setSize,
    /** The vary / complete / edit buttons of one image (a result or a kept image). */
    actionsFor(url) {
      const buttons = ['vary', 'complete', 'edit'].map((action) => {
        const button = ui.el('button', { type: 'button', class: `image-action ${action}`, text: action, title: `${action} this image` });
        button.addEventListener('click', async () => {
          try {
            await sourceFromUrl(url);
            $('image-prompt').scrollIntoView({ block: 'nearest' });
            // An edit waits for the mask to be painted; vary and complete run at once.
            if (action === 'edit') ui.setStatus('Paint over the part to change, then press Edit.');
            else await run(action);
          } catch (error) {
            ui.setStatus(error.message, true);
          }
        });
        return button;
      });
      return ui.el('span', { class: 'image-actions' }, buttons);
    },
  };
}
