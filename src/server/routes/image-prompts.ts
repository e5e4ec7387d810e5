/**
 * OpenAI Images API with an input image: POST /v1/images/edits (image + mask + prompt;
 * `stream` gives image_edit.* events) and POST /v1/images/variations (image only), both
 * multipart/form-data as OpenAI takes them. The upload becomes the image half of a request
 * through the pipeline's one builder (src/pipeline/image-prompt.ts); the rest of the form
 * is parsed exactly as a generation body (params.ts), then answered like one (answer.ts).
 */
import multipart, { type MultipartFile } from '@fastify/multipart';
import type { FastifyInstance, FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { MAX_INPUT_BYTES } from '../../image/input.js';
import { checkImageEncoder, imagePromptFromBytes } from '../../pipeline/image-prompt.js';
import type { ImagePromptMode } from '../../types.js';
import { ApiError, toApiError } from '../api-error.js';
import { TesseraError } from '../../errors.js';
import { parseImageParams, pickModel } from '../params.js';
import { answerJob } from './answer.js';
import { parseContext } from './images.js';
import { errorSchema } from './schemas.js';

/** Form fields that carry numbers or booleans (a form sends text; the JSON body's types are restored here). */
const INTEGER_FIELDS = new Set(['n', 'candidates', 'seed', 'top_k', 'partial_images', 'preview_every', 'output_compression', 'keep_rows']);
const NUMBER_FIELDS = new Set(['temperature', 'top_p', 'guidance_scale', 'keep_share']);
const BOOLEAN_FIELDS = new Set(['stream']);
/** OpenAI edit fields that change nothing here: accepted, checked, dropped. */
const INPUT_FIDELITY = ['high', 'low'];
/** Files a form may carry: the image (as `image` or a single `image[]`) and the mask. */
const FILE_FIELDS = new Set(['image', 'image[]', 'mask']);
/** Bytes of one text field (a prompt is at most 4000 code points: 16 KB of UTF-8). */
const FIELD_BYTES = 64 * 1024;

interface Form {
  images: Buffer[];
  mask: Buffer | null;
  fields: Record<string, unknown>;
}

function typedField(name: string, value: string): unknown {
  // A value that does not parse (or parses to no finite number) stays text, so params.ts reports it as the wrong type, naming the field.
  const finite = (n: number): number | string => (Number.isFinite(n) ? n : value.length > 40 ? `${value.slice(0, 40)}... (${value.length} characters)` : value);
  if (INTEGER_FIELDS.has(name) && /^[+-]?\d+$/.test(value.trim())) return finite(Number(value));
  if (NUMBER_FIELDS.has(name) && /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i.test(value.trim())) return finite(Number(value));
  if (BOOLEAN_FIELDS.has(name) && (value === 'true' || value === 'false')) return value === 'true';
  return value;
}

/** Multipart errors of @fastify/multipart and busboy, as catalogue codes. */
function formError(error: unknown): ApiError {
  const code = (error as { code?: string }).code;
  if (code === 'FST_REQ_FILE_TOO_LARGE') return new ApiError('TESSERA_ERR_INPUT_IMAGE_TOO_LARGE', `an uploaded file is over ${MAX_INPUT_BYTES} bytes (4 MiB), the limit for images and masks`, { param: 'image' });
  if (code === 'FST_FILES_LIMIT') return new ApiError('TESSERA_ERR_TOO_MANY_IMAGES', 'send one image and at most one mask', { param: 'image' });
  if (code === 'FST_PARTS_LIMIT' || code === 'FST_FIELDS_LIMIT') return new ApiError('TESSERA_ERR_OPTION', 'the form has too many fields', { param: 'body' });
  if (code === 'FST_INVALID_MULTIPART_CONTENT_TYPE') return new ApiError('TESSERA_ERR_UNSUPPORTED_MEDIA_TYPE', 'send the body as multipart/form-data (fields image, mask, prompt, ...)', { param: 'body' });
  if (code?.startsWith('FST_')) return new ApiError('TESSERA_ERR_INVALID_BODY', `the multipart body cannot be read: ${(error as Error).message}`, { param: 'body' });
  if (error instanceof ApiError) return error;
  // Anything else the form's parser (busboy) throws is the body's fault: no boundary, a body cut
  // short before its closing boundary, a part without headers (issue 23: these were 500s).
  if (error instanceof Error && !(error instanceof TesseraError)) {
    return new ApiError('TESSERA_ERR_INVALID_BODY', 'the multipart body cannot be read: it needs a boundary in its content-type, parts with headers, and its closing boundary', { param: 'body' });
  }
  return toApiError(error);
}

async function readForm(request: FastifyRequest): Promise<Form> {
  if (!request.isMultipart()) throw formError({ code: 'FST_INVALID_MULTIPART_CONTENT_TYPE' });
  const form: Form = { images: [], mask: null, fields: {} };
  try {
    for await (const part of request.parts()) {
      if (part.type === 'file') {
        const file = part as MultipartFile;
        if (!FILE_FIELDS.has(file.fieldname)) {
          await file.toBuffer();
          throw new ApiError('TESSERA_ERR_UNKNOWN_PARAMETER', `unrecognized file field: ${file.fieldname} (files are image and mask)`, { param: file.fieldname });
        }
        const data = await file.toBuffer();
        if (file.fieldname === 'mask') {
          if (form.mask !== null) throw new ApiError('TESSERA_ERR_TOO_MANY_IMAGES', 'send at most one mask', { param: 'mask' });
          form.mask = data;
        } else {
          form.images.push(data);
        }
      } else {
        if (part.valueTruncated) throw new ApiError('TESSERA_ERR_OPTION', `field ${part.fieldname} is longer than ${FIELD_BYTES} bytes, the limit for a form field`, { param: part.fieldname });
        if (Object.hasOwn(form.fields, part.fieldname)) throw new ApiError('TESSERA_ERR_OPTION', `field ${part.fieldname} is given twice`, { param: part.fieldname });
        form.fields[part.fieldname] = typedField(part.fieldname, String(part.value));
      }
    }
  } catch (error) {
    throw formError(error);
  }
  if (form.images.length === 0) throw new ApiError('TESSERA_ERR_MISSING_PARAMETER', 'image is required (a PNG, JPEG or WebP file, field "image")', { param: 'image' });
  if (form.images.length > 1) throw new ApiError('TESSERA_ERR_TOO_MANY_IMAGES', `${form.images.length} images were sent; this model edits or varies one image at a time`, { param: 'image' });
  return form;
}

async function imageRequest(app: FastifyInstance, request: FastifyRequest, reply: FastifyReply, mode: Extract<ImagePromptMode, 'edit' | 'vary'>) {
  const form = await readForm(request);
  const { fields } = form;
  if (mode === 'edit' && fields.input_fidelity !== undefined) {
    if (!INPUT_FIDELITY.includes(String(fields.input_fidelity))) throw new ApiError('TESSERA_ERR_OPTION', `input_fidelity must be one of "high", "low", got ${JSON.stringify(fields.input_fidelity)}`, { param: 'input_fidelity' });
    delete fields.input_fidelity; // every kept code is reproduced exactly: fidelity is always high
  }
  if (mode === 'vary') {
    for (const field of ['stream', 'partial_images']) {
      if (fields[field] !== undefined) throw new ApiError('TESSERA_ERR_UNKNOWN_PARAMETER', `unrecognized request argument: ${field} (variations do not stream)`, { param: field });
    }
  }
  const keepShare = fields.keep_share;
  const keepRows = fields.keep_rows;
  delete fields.keep_share;
  delete fields.keep_rows;
  if (mode === 'edit' && keepShare !== undefined) throw new ApiError('TESSERA_ERR_UNKNOWN_PARAMETER', 'unrecognized request argument: keep_share (variations take it)', { param: 'keep_share' });
  if (mode === 'vary' && keepRows !== undefined) throw new ApiError('TESSERA_ERR_UNKNOWN_PARAMETER', 'unrecognized request argument: keep_rows (edits take it)', { param: 'keep_rows' });
  if (keepShare !== undefined && typeof keepShare !== 'number') throw new ApiError('TESSERA_ERR_INVALID_TYPE', `keep_share must be a number, got ${JSON.stringify(keepShare)}`, { param: 'keep_share' });
  if (keepRows !== undefined && typeof keepRows !== 'number') throw new ApiError('TESSERA_ERR_INVALID_TYPE', `keep_rows must be an integer, got ${JSON.stringify(keepRows)}`, { param: 'keep_rows' });
  // Tessera's extension: an edit with keep_rows and no mask is a completion (keep the top rows, sample the rest).
  if (keepRows !== undefined && form.mask !== null) throw new ApiError('TESSERA_ERR_OPTION', 'keep_rows (a completion) and mask (an edit) exclude each other', { param: 'keep_rows' });
  const promptMode: ImagePromptMode = keepRows !== undefined ? 'complete' : mode;
  if (mode === 'vary' && form.mask !== null) throw new ApiError('TESSERA_ERR_UNKNOWN_PARAMETER', 'unrecognized request argument: mask (edits take it)', { param: 'mask' });
  const model = pickModel(fields, app.tessera.models);
  // A package without an encoder fails before the upload is even decoded.
  checkImageEncoder(model.manifest);
  const image = await imagePromptFromBytes(
    { mode: promptMode, image: form.images[0], mask: form.mask ?? undefined, keepShare: keepShare as number | undefined, keepRows: keepRows as number | undefined },
    model.manifest,
  ).catch((error: unknown) => {
    throw toApiError(error);
  });
  const params = parseImageParams(fields, { ...parseContext(app), sync: true, image });
  return answerJob(app, params, request, reply, mode === 'edit' ? 'image_edit' : 'image_generation');
}

export const imagePromptRoutes: FastifyPluginAsync = async (app) => {
  // Scoped to these routes: every other route still speaks JSON only.
  await app.register(multipart, { limits: { fileSize: MAX_INPUT_BYTES, files: 3, fields: 40, fieldSize: FIELD_BYTES, parts: 43 } });
  const schema = (summary: string) => ({ tags: ['images'], summary, consumes: ['multipart/form-data'], response: { 400: errorSchema, 413: errorSchema, 429: errorSchema, 500: errorSchema } });
  app.post('/v1/images/edits', { schema: schema('Edit an image inside a mask (OpenAI Images API compatible; multipart)') }, (request, reply) => imageRequest(app, request, reply, 'edit'));
  app.post('/v1/images/variations', { schema: schema('Variations of an image (OpenAI Images API compatible; multipart)') }, (request, reply) => imageRequest(app, request, reply, 'vary'));
};
