/** JSON schemas for the OpenAPI document (handlers do the validation; see app.ts). */
export const errorSchema = {
  type: 'object',
  properties: {
    error: {
      type: 'object',
      properties: { message: { type: 'string' }, type: { type: 'string' }, param: { type: ['string', 'null'] }, code: { type: ['string', 'null'] } },
    },
  },
} as const;

export const imageRequestSchema = {
  type: 'object',
  required: ['prompt'],
  properties: {
    prompt: { type: 'string', description: 'What to draw (1-4000 characters)' },
    model: { type: 'string', description: 'Model id from GET /v1/models (default: the first installed)' },
    n: { type: 'integer', minimum: 1, maximum: 10, description: 'Images returned: the n best candidates by CLIP score' },
    size: { type: 'string', description: '"auto" (native) or the native size times 1, 2, 4, 8, 16 (upscaled; reported in the response)' },
    response_format: { type: 'string', enum: ['url', 'b64_json'] },
    output_format: { type: 'string', enum: ['png', 'jpeg', 'webp'] },
    user: { type: 'string' },
    stream: { type: 'boolean', description: 'SSE: image_generation.partial_image then image_generation.completed per image' },
    partial_images: { type: 'integer', minimum: 0, maximum: 3 },
    quality: { type: 'string', enum: ['auto', 'low', 'medium', 'high', 'standard', 'hd'], description: 'Candidates sampled when `candidates` is not given: low = a quarter of the model default, medium/auto/standard = the default, high/hd = twice it (capped by --max-candidates)' },
    background: { type: 'string', enum: ['auto', 'opaque', 'transparent'], description: '"transparent" is refused (400): every pixel is drawn' },
    moderation: { type: 'string', enum: ['auto', 'low'] },
    style: { type: 'string', enum: ['vivid', 'natural'], description: 'dall-e-3 only: refused (400)' },
    output_compression: { type: 'integer', minimum: 0, maximum: 100, description: 'jpeg/webp quality (100 = least compression; default 92); refused for png' },
    upscale: { type: 'string', enum: ['lanczos3', 'nearest'], description: 'Tessera: resampling kernel of upscaled sizes (default lanczos3)' },
    candidates: { type: 'integer', description: 'Tessera: candidates sampled and reranked (default: the model manifest)' },
    seed: { type: 'integer', minimum: 0, maximum: 4294967295, description: 'Tessera: base seed; (seed, candidate_index) reproduces an image' },
    negative_prompt: { type: 'string' },
    temperature: { type: 'number', minimum: 0, maximum: 10 },
    top_k: { type: 'integer', minimum: 0 },
    top_p: { type: 'number', exclusiveMinimum: 0, maximum: 1 },
    guidance_scale: { type: 'number', minimum: 0, maximum: 50 },
    preview_every: { type: 'integer', minimum: 0, description: 'Tessera: preview every k sampling steps (jobs and streams)' },
  },
} as const;

export const idParams = { type: 'object', properties: { id: { type: 'string', format: 'uuid' } }, required: ['id'] } as const;
