// Live cards: each request is a card at the top of the grid at once, showing every
// candidate forming (the SSE previews), then settling into its ranked kept images with
// their scores; cancel on the card; errors on the card with the API's message. Several
// requests run at once, each in its own card.
import { $, api, el, events, thumb, score, footprintText } from './api.js';

/** ui: { open(tile), grid (createGrid's), setStatus(text, isError) } */
export function createJobs(ui) {
  const list = $('jobs');

  function card(title) {
    const status = el('p', { class: 'job-status', role: 'status', text: 'Queued' });
    const cancel = el('button', { type: 'button', class: 'cancel', text: 'Cancel', 'aria-label': `Cancel: ${title}` });
    const dismiss = el('button', { type: 'button', class: 'dismiss', text: 'Dismiss', 'aria-label': `Dismiss: ${title}`, hidden: true });
    const progress = el('progress', { max: '1', value: '0', 'aria-label': `Progress: ${title}` });
    const previews = el('div', { class: 'previews', 'aria-label': 'Candidates forming' });
    const body = el('div', { class: 'job-body' }, [previews]);
    const node = el('li', { class: 'job card', 'aria-label': title }, [
      el('div', { class: 'job-head' }, [el('span', { class: 'prompt', text: title }), cancel, dismiss]),
      progress,
      status,
      body,
    ]);
    list.prepend(node);
    ui.grid.emptyState();
    dismiss.addEventListener('click', () => {
      const next = node.nextElementSibling?.querySelector('button') ?? $('prompt');
      node.remove();
      next.focus();
      ui.grid.emptyState();
    });
    const set = (text, kind = '') => {
      status.textContent = text;
      status.className = `job-status ${kind}`;
    };
    const finish = () => {
      cancel.remove();
      progress.remove();
      dismiss.hidden = false;
    };
    return { node, cancel, progress, previews, body, set, finish };
  }

  /** A tile of a kept image in a card: opens the lightbox on that record and image. */
  function keptTile(id, image, prompt) {
    const label = `${prompt || 'image'}, rank ${image.rank}`;
    const open = el('button', { type: 'button', class: 'tile', tabindex: '-1', 'data-id': id, 'data-candidate': String(image.candidate_index) }, [
      thumb(image.url, prompt || 'image', false),
      el('span', { class: 'caption' }, [el('span', { class: 'rank', text: `#${image.rank}` }), el('span', { class: 'score', text: score(image.clip_score) })]),
    ]);
    open.addEventListener('click', () => ui.open(open));
    const imageId = image.file ? `${id}/${image.file}` : null;
    const like = imageId ? el('button', { type: 'button', class: 'like', 'aria-label': `More like this: ${label}`, title: 'More like this', text: '≈', on: { click: () => ui.grid.moreLike(imageId) } }) : null;
    return el('li', { class: 'cell kept' }, [open, like]);
  }

  function settle(c, record) {
    ui.grid.claim(record.id);
    c.previews.remove();
    const kept = el('ul', { class: 'kept-tiles', 'aria-label': 'Kept images, best first' }, record.images.map((image) => keptTile(record.id, image, record.prompt)));
    const keptIndex = new Set(record.images.map((i) => i.candidate_index));
    const all = el('details', { class: 'all-candidates' }, [
      el('summary', { text: `All ${record.candidates.length} candidates, ranked by CLIP score` }),
      el('ol', { class: 'candidates' }, record.candidates.map((c2) =>
        el('li', { class: `candidate${keptIndex.has(c2.candidate_index) ? ' kept' : ''}`, 'data-rank': String(c2.rank), title: `seed ${c2.seed}, candidate ${c2.candidate_index}` }, [
          thumb(c2.url, `candidate ${c2.candidate_index}, rank ${c2.rank}`),
          el('span', { class: 'rank', text: `#${c2.rank}` }),
          el('span', { class: 'score', text: score(c2.clip_score) }),
          keptIndex.has(c2.candidate_index) ? el('span', { class: 'badge', text: 'kept' }) : null,
        ]),
      )),
    ]);
    c.body.append(kept, all);
    ui.grid.newFirst();
    const t = record.timings?.total;
    const warnings = record.warnings?.length ? ` Warning: ${record.warnings.join('; ')}` : '';
    c.set(`Done: ${record.candidates.length} candidates, ${record.images.length} kept, seed ${record.seed}${t ? `, ${(t / 1000).toFixed(2)} s` : ''}${record.upscaled ? ` (upscaled to ${record.size})` : ''}. ${footprintText(record.footprint)}${warnings}`, 'done');
    c.finish();
  }

  /** POST /v1/jobs, then follow its events into the card. */
  async function generate(body) {
    const c = card(body.prompt);
    let jobId = null;
    const stop = new AbortController();
    c.cancel.addEventListener('click', async () => {
      c.cancel.disabled = true;
      try {
        if (jobId !== null) await api('DELETE', `/v1/jobs/${jobId}`);
        else stop.abort();
      } catch (error) {
        c.set(error.message, 'error');
      }
    });
    try {
      const job = await api('POST', '/v1/jobs', body, stop.signal);
      jobId = job.id;
      c.node.dataset.job = job.id;
      c.set(`Queued (position ${job.queue_position ?? 1})`);
      for await (const e of events(job.links.events)) {
        if (e.type === 'queued') c.set(`Queued (position ${e.position})`);
        else if (e.type === 'started') c.set('Sampling…');
        else if (e.type === 'progress') {
          c.progress.max = e.steps;
          c.progress.value = e.step;
          c.set(`Sampling: step ${e.step} / ${e.steps}${e.tokens_per_second ? ` · ${e.tokens_per_second} tok/s` : ''}`);
        } else if (e.type === 'preview') {
          c.previews.replaceChildren(...e.images.map((b64, i) => el('img', { src: `data:image/png;base64,${b64}`, alt: `candidate ${i} forming` })));
        } else if (e.type === 'result') settle(c, e.result);
        else if (e.type === 'error') {
          c.set(`${e.status === 'cancelled' ? 'Cancelled' : 'Failed'}: ${e.error.message}`, e.status === 'cancelled' ? '' : 'error');
          c.previews.remove();
          c.finish();
        }
      }
    } catch (error) {
      c.set(stop.signal.aborted ? 'Cancelled.' : `Failed: ${error.message}`, stop.signal.aborted ? '' : 'error');
      c.finish();
    }
  }

  /** An image prompt (vary, complete, edit) as a card: its kept images when the API answers. */
  async function imagePrompt(label, request) {
    const c = card(label);
    const stop = new AbortController();
    c.cancel.addEventListener('click', () => stop.abort());
    c.progress.removeAttribute('value');
    c.set('Working…');
    try {
      const data = await request(stop.signal);
      ui.grid.claim(data.id);
      c.previews.remove();
      c.body.append(el('ul', { class: 'kept-tiles', 'aria-label': 'Results, best first' }, data.data.map((image) => keptTile(data.id, image, label))));
      ui.grid.newFirst();
      const notes = [data.input_adjusted ? `input ${data.input_adjusted}` : null, ...(data.warnings ?? []).filter((w) => !w.startsWith('input image'))].filter(Boolean);
      c.set(`Done: ${data.data.length} image${data.data.length === 1 ? '' : 's'}.${notes.length ? ` ${notes.join('; ')}` : ''}`, 'done');
    } catch (error) {
      c.set(stop.signal.aborted ? 'Cancelled (stopped waiting).' : `Failed: ${error.message}`, stop.signal.aborted ? '' : 'error');
    }
    c.finish();
  }

  return { generate, imagePrompt };
}
