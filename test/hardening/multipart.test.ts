/**
 * Issue 23, defect 3 and the form half of defect 5: a multipart body that cannot be read
 * (no boundary, cut short before its closing boundary) is 400 invalid_body in the OpenAI
 * envelope, never 500; a form field over the field limit names the field and the limit.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testPicture } from '../helpers/images.js';
import { testServer, type TestServer } from '../server/helpers.js';

let server: TestServer;
let picture: Buffer;
beforeAll(async () => {
  server = await testServer({ waitReady: true, maxQueue: 0 });
  picture = await testPicture(64, 64);
});
afterAll(async () => server?.close());

interface Envelope {
  error: { code: string; type: string; param: string | null; message: string };
}

/** A multipart body by hand: the parts, and whether the closing boundary is there. */
function form(parts: { name: string; value: Buffer | string; filename?: string }[], close = true): Buffer {
  const chunks: Buffer[] = [];
  for (const part of parts) {
    const disposition = `form-data; name="${part.name}"${part.filename === undefined ? '' : `; filename="${part.filename}"`}`;
    chunks.push(Buffer.from(`--B\r\ncontent-disposition: ${disposition}\r\n${part.filename === undefined ? '' : 'content-type: application/octet-stream\r\n'}\r\n`));
    chunks.push(Buffer.from(part.value));
    chunks.push(Buffer.from('\r\n'));
  }
  if (close) chunks.push(Buffer.from('--B--\r\n'));
  return Buffer.concat(chunks);
}

async function post(route: string, payload: Buffer | string, contentType: string): Promise<{ status: number; body: Envelope }> {
  const response = await server.app.inject({ method: 'POST', url: `/v1/images/${route}`, headers: { 'content-type': contentType }, payload });
  return { status: response.statusCode, body: response.json() as Envelope };
}

describe('broken multipart bodies', () => {
  it('no boundary, an empty body, a body cut short: 400 invalid_body in the envelope on both routes', async () => {
    for (const route of ['edits', 'variations']) {
      const cases: [Buffer | string, string][] = [
        ['x', 'multipart/form-data'],
        ['', 'multipart/form-data'],
        [form([{ name: 'prompt', value: 'a star' }, { name: 'image', value: picture, filename: 'p.png' }], false), 'multipart/form-data; boundary=B'],
        [form([{ name: 'image', value: picture, filename: 'p.png' }]).subarray(0, 120), 'multipart/form-data; boundary=B'],
        ['x', 'multipart/form-data; boundary='],
      ];
      for (const [payload, contentType] of cases) {
        const { status, body } = await post(route, payload, contentType);
        expect([route, String(payload).slice(0, 30), status, body.error?.code, body.error?.type]).toEqual([route, String(payload).slice(0, 30), 400, 'invalid_body', 'invalid_request_error']);
        expect(Object.keys(body.error).sort()).toEqual(['code', 'message', 'param', 'type']);
      }
    }
  });

  it('a form field over the 64 KiB field limit names the field and the limit, not a wrong type', async () => {
    const { status, body } = await post('variations', form([{ name: 'n', value: '1'.repeat(70_000) }, { name: 'image', value: picture, filename: 'p.png' }]), 'multipart/form-data; boundary=B');
    expect([status, body.error.code, body.error.param]).toEqual([400, 'invalid_value', 'n']);
    expect(body.error.message).toContain('65536');
    const prompt = await post('edits', form([{ name: 'prompt', value: 'a'.repeat(70_000) }, { name: 'image', value: picture, filename: 'p.png' }]), 'multipart/form-data; boundary=B');
    expect([prompt.status, prompt.body.error.code, prompt.body.error.param]).toEqual([400, 'invalid_value', 'prompt']);
  });

  it('a number field too large for a number is reported as the text it is', async () => {
    const { status, body } = await post('variations', form([{ name: 'n', value: '9'.repeat(400) }, { name: 'image', value: picture, filename: 'p.png' }]), 'multipart/form-data; boundary=B');
    expect([status, body.error.code, body.error.param]).toEqual([400, 'invalid_type', 'n']);
    expect(body.error.message).not.toContain('null');
  });
});
