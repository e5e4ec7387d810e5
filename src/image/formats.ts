/**
 * Which image formats an upload may be, decided from its first bytes before any decoder
 * sees it (issue 23). Accepted: PNG, JPEG and WebP, what OpenAI's edits and variations
 * take. Everything else is refused by name: SVG in particular, whose renderer (librsvg)
 * runs filters with no bound (a 1.2 KB SVG with a large feGaussianBlur held the server's
 * image threads for over 13 minutes), and GIF, TIFF, AVIF/HEIF, BMP, PDF, ... which no
 * client of these APIs needs and each of which brings another decoder to attack.
 */

/** Formats an input image (or mask) may be: sniffed from magic bytes, never from a file name or content type. */
export const INPUT_FORMATS = ['png', 'jpeg', 'webp'] as const;
export type InputFormat = (typeof INPUT_FORMATS)[number];

const startsWith = (data: Uint8Array, bytes: readonly number[], at = 0): boolean => data.length >= at + bytes.length && bytes.every((b, i) => data[at + i] === b);
const ascii = (data: Uint8Array, from: number, to: number): string => String.fromCharCode(...data.subarray(from, Math.min(to, data.length)));

/** The accepted format of these bytes, or null. */
export function sniffInputFormat(data: Uint8Array): InputFormat | null {
  if (startsWith(data, [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])) return 'png';
  if (startsWith(data, [0xff, 0xd8, 0xff])) return 'jpeg';
  if (ascii(data, 0, 4) === 'RIFF' && ascii(data, 8, 12) === 'WEBP') return 'webp';
  return null;
}

/**
 * A name for bytes that are not an accepted format, for the refusal: a format we know
 * and refuse ("SVG", "GIF", ...), or null when the bytes are no image format at all.
 */
export function refusedFormatOf(data: Uint8Array): string | null {
  const head = ascii(data, 0, 12);
  if (head.startsWith('GIF87a') || head.startsWith('GIF89a')) return 'GIF';
  if (startsWith(data, [0x49, 0x49, 0x2a, 0x00]) || startsWith(data, [0x4d, 0x4d, 0x00, 0x2a]) || startsWith(data, [0x49, 0x49, 0x2b, 0x00]) || startsWith(data, [0x4d, 0x4d, 0x00, 0x2b])) return 'TIFF';
  if (head.startsWith('BM')) return 'BMP';
  if (head.startsWith('%PDF')) return 'PDF';
  if (head.startsWith('8BPS')) return 'PSD';
  if (startsWith(data, [0x00, 0x00, 0x01, 0x00])) return 'ICO';
  if (startsWith(data, [0xff, 0x0a]) || startsWith(data, [0x00, 0x00, 0x00, 0x0c, 0x4a, 0x58, 0x4c, 0x20])) return 'JPEG XL';
  if (startsWith(data, [0x00, 0x00, 0x00, 0x0c, 0x6a, 0x50, 0x20, 0x20]) || startsWith(data, [0xff, 0x4f, 0xff, 0x51])) return 'JPEG 2000';
  if (ascii(data, 4, 8) === 'ftyp') {
    const brand = ascii(data, 8, 12);
    return brand.startsWith('avi') ? 'AVIF' : 'HEIF';
  }
  if (/^P[1-7]\s/.test(head)) return 'PNM';
  if (startsWith(data, [0x76, 0x2f, 0x31, 0x01])) return 'OpenEXR';
  if (head.startsWith('SIMPLE  =')) return 'FITS';
  if (startsWith(data, [0x1f, 0x8b])) return 'gzip (SVGZ?)';
  // SVG is XML text: look past a BOM, whitespace, an XML declaration, comments and a doctype for "<svg".
  const text = new TextDecoder('utf-8', { fatal: false }).decode(data.subarray(0, 4096)).replace(/^\uFEFF/, '').trimStart();
  if (/^<svg[\s>/]/i.test(text) || (/^<(\?xml|!--|!doctype)/i.test(text) && /<svg[\s>/]/i.test(text))) return 'SVG';
  if (/^<(\?xml|!doctype|html|[a-z])/i.test(text)) return 'XML or HTML text';
  return null;
}

/** "PNG, JPEG or WebP": the accepted formats as a message says them. */
export const ACCEPTED_FORMATS_TEXT = 'PNG, JPEG or WebP';
