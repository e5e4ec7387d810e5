// The gallery's talk to the API: one fetch wrapper (API key, OpenAI error envelope), SSE over
// fetch, and a tiny element builder. Plain ES module, nothing inline (the page's CSP forbids it).
export const $ = (id) => document.getElementById(id);

/** An API answer that was not 2xx: the envelope's message, the HTTP status and the wire code. */
export class ApiFailure extends Error {
  constructor(message, status, code) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

const listeners = new Set();
/** Called with every ApiFailure (the page shows the key and readiness notices from them). */
export function onFailure(listener) {
  listeners.add(listener);
}

export function apiKey() {
  return $('api-key').value.trim();
}

export function headers(extra = {}) {
  const key = apiKey();
  return key ? { ...extra, authorization: `Bearer ${key}` } : extra;
}

async function failure(response) {
  const data = await response.json().catch(() => ({}));
  const error = new ApiFailure(data.error?.message ?? `HTTP ${response.status}`, response.status, data.error?.code ?? null);
  for (const listener of listeners) listener(error);
  return error;
}

/** JSON in, JSON out; throws ApiFailure. `body` may be FormData (multipart image prompts). */
export async function api(method, url, body, signal) {
  const isForm = body instanceof FormData;
  const response = await fetch(url, {
    method,
    headers: headers(body === undefined || isForm ? {} : { 'content-type': 'application/json' }),
    body: body === undefined ? undefined : isForm ? body : JSON.stringify(body),
    signal,
  });
  if (!response.ok) throw await failure(response);
  return response.json().catch(() => ({}));
}

/** Reads an SSE response with fetch (EventSource cannot send the API key). */
export async function* events(url, signal) {
  const response = await fetch(url, { headers: headers(), signal });
  if (!response.ok) throw await failure(response);
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

/** A stored image's bytes (the URL is whatever the API returned: plain or signed). */
export async function imageBlob(url) {
  const response = await fetch(url, { headers: headers() });
  if (!response.ok) throw new ApiFailure(`cannot load the image: HTTP ${response.status}`, response.status, null);
  return response.blob();
}

export function el(tag, props = {}, children = []) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') node.className = v;
    else if (k === 'text') node.textContent = v;
    else if (k === 'on') for (const [type, fn] of Object.entries(v)) node.addEventListener(type, fn);
    else node.setAttribute(k, v === true ? '' : v);
  }
  for (const child of children) if (child !== null && child !== undefined && child !== '') node.append(child);
  return node;
}

/**
 * A thumbnail: lazy, fixed square, and scaled as pixel art when shown larger than it is
 * (the models make 32-64 px images; nearest-neighbour keeps their tokens crisp, smoothing
 * would blur them), smooth when shown smaller (pixelated downscaling aliases).
 */
export function thumb(src, alt, lazy = true) {
  const img = el('img', { src, alt, loading: lazy ? 'lazy' : undefined, decoding: 'async' });
  img.addEventListener('load', () => img.classList.toggle('upscaled', img.naturalWidth < img.clientWidth * (window.devicePixelRatio || 1)));
  return img;
}

/** One line of what a request cost (record.footprint). */
export function footprintText(f) {
  if (!f) return '';
  const flops = f.flops ? `${(f.flops.total / 1e9).toFixed(1)} GFLOP, ` : '';
  const co2 = f.co2e_g >= 1 ? `${f.co2e_g.toFixed(2)} g` : `${(f.co2e_g * 1000).toFixed(2)} mg`;
  return `Footprint: ${flops}${f.energy_j.toFixed(1)} J (${f.energy_method === 'rapl' ? 'RAPL' : 'CPU-time estimate'}), ${co2} CO2e at ${Math.round(f.grid_intensity_g_per_kwh)} g/kWh.`;
}

export function score(value) {
  return value === null || value === undefined ? 'no score' : value.toFixed(3);
}
