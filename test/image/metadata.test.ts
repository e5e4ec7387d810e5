import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { isTesseraError } from '../../src/errors.js';
import type { GenerationResult, RgbImage } from '../../src/types.js';
import {
  TRAINED_ALGORITHMIC_MEDIA,
  buildXmpPacket,
  formatParameters,
  imageMetadataFor,
  roundScore,
  type ImageMetadata,
} from '../../src/image/metadata.js';
import { readDigitalSourceType, readImageMetadata } from '../../src/image/metadata-reader.js';
import { encodeImage, encodePng, upscale } from '../../src/image/encode.js';
import { parsePngChunks } from '../../src/image/png-chunks.js';
import { readTextChunks } from '../../src/image/png-text-chunks.js';
import { SAMPLE_META, patternImage, solidImage } from './helpers.js';

function hasExiftool(): boolean {
  try {
    execFileSync('exiftool', ['-ver'], { stdio: 'pipe' });
    return true;
  } catch {
    return false;
  }
}
const EXIFTOOL = hasExiftool();
if (!EXIFTOOL) console.warn('exiftool not installed (Debian libimage-exiftool-perl): the independent-reader tests are skipped');

function exiftoolJson(file: string, tags: string[]): Record<string, unknown> {
  const out = execFileSync('exiftool', ['-j', '-charset', 'utf8', ...tags, file], { encoding: 'utf8' });
  return (JSON.parse(out) as Record<string, unknown>[])[0];
}

const tempDir = mkdtempSync(join(tmpdir(), 'tessera-image-'));

describe('formatParameters (A1111 infotext)', () => {
  it('writes the exact A1111 layout', () => {
    expect(formatParameters(SAMPLE_META, { width: 64, height: 64 })).toBe(
      'a red cube on a blue sphere\n' +
        'Negative prompt: blurry\n' +
        'Steps: 64, Sampler: tessera-autoregressive, CFG scale: 3, Seed: 7, Size: 64x64, Model: shapes-tiny, ' +
        'Candidate: 3, Candidates: 32, Temperature: 1, Top-k: 0, Top-p: 1, CLIP score: 0.3121, Rank: 1',
    );
  });

  it('omits what is unknown and quotes values with commas', () => {
    const meta: ImageMetadata = { ...SAMPLE_META, negativePrompt: null, steps: undefined, score: null, rank: undefined, model: 'tiny, v2' };
    expect(formatParameters(meta, { width: 32, height: 16 })).toBe(
      'a red cube on a blue sphere\n' +
        'Sampler: tessera-autoregressive, CFG scale: 3, Seed: 7, Size: 32x16, Model: "tiny, v2", ' +
        'Candidate: 3, Candidates: 32, Temperature: 1, Top-k: 0, Top-p: 1',
    );
  });
});

describe('scores in files are rounded to what a person reads (issue 22)', () => {
  it('the tessera chunk and the infotext carry the score to 4 decimals; two floats a CPU apart write the same bytes', async () => {
    // Two CLIP scores of one image as two kernels compute it (graph optimizations on and
    // off on the tiny fixture: test/output/golden.test.ts).
    const [a, b] = [0.18482530868368413, 0.1848240392078621];
    const image = patternImage(8, 8);
    const [pngA, pngB] = await Promise.all([encodePng(image, { ...SAMPLE_META, score: a }), encodePng(image, { ...SAMPLE_META, score: b })]);
    expect(pngA.equals(pngB)).toBe(true);
    const read = readImageMetadata(pngA);
    expect(read.tessera?.score).toBe(0.1848);
    expect(readTextChunks(pngA).find((e) => e.keyword === 'tessera')?.text).toContain('"score":0.1848,');
    expect(read.parameters).toContain('CLIP score: 0.1848, Rank: 1');
  });

  it('roundScore: 4 decimals, no negative zero, null stays null', () => {
    expect(roundScore(0.31215)).toBeCloseTo(0.3122, 12);
    expect(String(roundScore(-0.123449))).toBe('-0.1234');
    expect(Object.is(roundScore(-0.00004), 0)).toBe(true);
    expect(roundScore(null)).toBeNull();
    expect(roundScore(1)).toBe(1);
  });
});

describe('encodePng / readImageMetadata', () => {
  it('writes parameters, XMP and tessera chunks that read back, and sharp still decodes the pixels', async () => {
    const image = patternImage(64, 64);
    const png = await encodePng(image, SAMPLE_META);
    const metadata = readImageMetadata(png);
    expect(metadata.parameters).toBe(formatParameters(SAMPLE_META, image));
    expect(metadata.tessera).toEqual(SAMPLE_META);
    expect(metadata.digitalSourceType).toBe(TRAINED_ALGORITHMIC_MEDIA);
    const kinds = Object.fromEntries(readTextChunks(png).map((entry) => [entry.keyword, entry.chunkType]));
    expect(kinds).toEqual({ parameters: 'tEXt', 'XML:com.adobe.xmp': 'iTXt', tessera: 'iTXt' });

    const { data, info } = await sharp(png).raw().toBuffer({ resolveWithObject: true });
    expect(info).toMatchObject({ width: 64, height: 64, channels: 3 });
    expect(data.equals(Buffer.from(image.data))).toBe(true);
  });

  it('round-trips a non-Latin-1 prompt through iTXt', async () => {
    const meta: ImageMetadata = { ...SAMPLE_META, prompt: '一只红色的立方体 — «cube» ☃ 🟥', negativePrompt: 'размытый' };
    const png = await encodePng(solidImage(8, 8, [200, 10, 10]), meta);
    const parameters = readTextChunks(png).find((entry) => entry.keyword === 'parameters');
    expect(parameters?.chunkType).toBe('iTXt');
    const metadata = readImageMetadata(png);
    expect(metadata.parameters?.split('\n').slice(0, 2)).toEqual([meta.prompt, 'Negative prompt: размытый']);
    expect(metadata.tessera?.prompt).toBe(meta.prompt);
    expect(metadata.tessera?.negativePrompt).toBe('размытый');
  });

  it('is deterministic byte for byte', async () => {
    const image = patternImage(16, 16);
    expect((await encodePng(image, SAMPLE_META)).equals(await encodePng(image, SAMPLE_META))).toBe(true);
  });

  it('escapes XML in the XMP description and reads the source type under any prefix', () => {
    const xmp = buildXmpPacket('a <b> & "c"\u0001');
    expect(xmp).toContain('a &lt;b&gt; &amp; &quot;c&quot;</rdf:li>');
    expect(readDigitalSourceType(xmp)).toBe(TRAINED_ALGORITHMIC_MEDIA);
    const foreign =
      '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">' +
      '<rdf:Description xmlns:ext="http://iptc.org/std/Iptc4xmpExt/2008-02-29/">' +
      '<ext:DigitalSourceType>http://cv.iptc.org/newscodes/digitalsourcetype/digitalCapture</ext:DigitalSourceType>' +
      '</rdf:Description></rdf:RDF></x:xmpmeta>';
    expect(readDigitalSourceType(foreign)).toBe('http://cv.iptc.org/newscodes/digitalsourcetype/digitalCapture');
    expect(readDigitalSourceType('<x:xmpmeta/>')).toBeUndefined();
  });

  it('rejects bad images, metadata and non-PNG input with TesseraErrors', async () => {
    await expect(encodePng({ width: 4, height: 4, data: new Uint8Array(10) }, SAMPLE_META)).rejects.toSatisfy((e) =>
      isTesseraError(e, 'TESSERA_ERR_IMAGE'),
    );
    await expect(encodePng(patternImage(4, 4), { ...SAMPLE_META, seed: Number.NaN })).rejects.toSatisfy((e) =>
      isTesseraError(e, 'TESSERA_ERR_IMAGE'),
    );
    const jpeg = await encodeImage(patternImage(8, 8), 'jpeg', SAMPLE_META);
    expect(() => readImageMetadata(jpeg)).toThrow(expect.objectContaining({ code: 'TESSERA_ERR_IMAGE' }));
    await expect(encodeImage(patternImage(8, 8), 'gif' as 'png', SAMPLE_META)).rejects.toSatisfy((e) =>
      isTesseraError(e, 'TESSERA_ERR_OPTION'),
    );
  });

  it.skipIf(!EXIFTOOL)('is readable by an independent reader (exiftool): digital source type and parameters', async () => {
    const file = join(tempDir, 'ascii.png');
    writeFileSync(file, await encodePng(patternImage(64, 64), SAMPLE_META));
    const tags = exiftoolJson(file, ['-XMP-iptcExt:DigitalSourceType', '-PNG:Parameters']);
    expect(tags.DigitalSourceType).toBe(TRAINED_ALGORITHMIC_MEDIA);
    expect(tags.Parameters).toBe(formatParameters(SAMPLE_META, { width: 64, height: 64 }));

    const unicodeMeta: ImageMetadata = { ...SAMPLE_META, prompt: 'ein Würfel ☃ 立方体' };
    const unicodeFile = join(tempDir, 'unicode.png');
    writeFileSync(unicodeFile, await encodePng(patternImage(8, 8), unicodeMeta));
    const unicodeTags = exiftoolJson(unicodeFile, ['-XMP-iptcExt:DigitalSourceType', '-PNG:Parameters']);
    expect(unicodeTags.DigitalSourceType).toBe(TRAINED_ALGORITHMIC_MEDIA);
    expect(unicodeTags.Parameters).toBe(formatParameters(unicodeMeta, { width: 8, height: 8 }));
  });
});

describe('encodeImage', () => {
  it('png is encodePng', async () => {
    const image = patternImage(8, 8);
    expect((await encodeImage(image, 'png', SAMPLE_META)).equals(await encodePng(image, SAMPLE_META))).toBe(true);
  });

  for (const format of ['jpeg', 'webp'] as const) {
    it(`${format} carries the XMP packet (source type and parameters as description)`, async () => {
      const image = patternImage(32, 32);
      const encoded = await encodeImage(image, format, SAMPLE_META);
      const info = await sharp(encoded).metadata();
      expect(info.format).toBe(format);
      expect(info.width).toBe(32);
      const xmp = info.xmp?.toString('utf8') ?? '';
      expect(readDigitalSourceType(xmp)).toBe(TRAINED_ALGORITHMIC_MEDIA);
      expect(xmp).toContain('Seed: 7, Size: 32x32');
      expect(info.exif).toBeDefined();
    });

    it.skipIf(!EXIFTOOL)(`${format} is readable by exiftool: source type, UserComment, description`, async () => {
      const file = join(tempDir, `sample.${format}`);
      writeFileSync(file, await encodeImage(patternImage(32, 32), format, SAMPLE_META));
      const tags = exiftoolJson(file, ['-XMP-iptcExt:DigitalSourceType', '-EXIF:UserComment', '-XMP-dc:Description']);
      const parameters = formatParameters(SAMPLE_META, { width: 32, height: 32 });
      expect(tags.DigitalSourceType).toBe(TRAINED_ALGORITHMIC_MEDIA);
      expect(tags.UserComment).toBe(parameters);
      expect(tags.Description).toBe(parameters);
    });
  }

  it('leaves out a lossy EXIF UserComment when the text is not ASCII, keeps it in XMP', async () => {
    const meta: ImageMetadata = { ...SAMPLE_META, prompt: 'ein Würfel ☃' };
    const info = await sharp(await encodeImage(patternImage(8, 8), 'jpeg', meta)).metadata();
    expect(info.xmp?.toString('utf8')).toContain('ein Würfel ☃');
    expect(info.exif === undefined || !info.exif.includes(Buffer.from('ein W'))).toBe(true);
  });
});

describe('upscale', () => {
  it('nearest repeats pixels exactly', async () => {
    const image: RgbImage = { width: 2, height: 1, data: new Uint8Array([255, 0, 0, 0, 0, 255]) };
    const big = await upscale(image, { width: 4, height: 2 });
    expect(big.width).toBe(4);
    expect(big.height).toBe(2);
    expect(Array.from(big.data)).toEqual([255, 0, 0, 255, 0, 0, 0, 0, 255, 0, 0, 255, 255, 0, 0, 255, 0, 0, 0, 0, 255, 0, 0, 255]);
  });

  it('lanczos3 gives the requested size with 3 channels', async () => {
    const big = await upscale(patternImage(64, 64), 256, 'lanczos3');
    expect(big.width).toBe(256);
    expect(big.height).toBe(256);
    expect(big.data.length).toBe(256 * 256 * 3);
    expect(parsePngChunks(await encodePng(big, SAMPLE_META))[0].type).toBe('IHDR');
  });

  it('rejects an invalid size', async () => {
    await expect(upscale(patternImage(4, 4), 0)).rejects.toSatisfy((e) => isTesseraError(e, 'TESSERA_ERR_OPTION'));
  });
});

describe('imageMetadataFor', () => {
  it('takes the request settings and the candidate index, score and rank', () => {
    const image = patternImage(8, 8);
    const candidate = { index: 3, tokens: new Int32Array(64), image, score: 0.3121, rank: 1 };
    const result: GenerationResult = {
      prompt: SAMPLE_META.prompt,
      negativePrompt: 'blurry',
      seed: 7,
      settings: { candidates: 32, keep: 4, temperature: 1, topK: 0, topP: 1, guidanceScale: 3, previewEvery: 0 },
      model: 'shapes-tiny',
      candidates: [candidate],
      kept: [candidate],
      timings: { tokenize: 0, prefill: 0, decode: 0, imageDecode: 0, rerank: 0, total: 0 },
      warnings: [],
      unknownWords: [],
      promptTruncated: false,
    };
    expect(imageMetadataFor(result, candidate)).toEqual(SAMPLE_META);
  });
});
