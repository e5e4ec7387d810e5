/**
 * Reading back what an image says about itself: the `parameters`, `tessera`,
 * `tessera:footprint` and XMP chunks of a PNG (metadata.ts describes them), with the
 * JSON chunks checked and the IPTC digital source type found in the XMP packet. Kept
 * apart from metadata.ts, which writes them: writing is on every generation's path,
 * reading serves `tessera info`, the tests and other tools.
 */
import type { Footprint } from '../types.js';
import { unescapeXml } from '../util/xml.js';
import { readTextChunks, type PngTextEntry } from './png-text-chunks.js';
import { imageError } from './rgb.js';
import { FOOTPRINT_KEYWORD, IPTC_EXT_NAMESPACE, PARAMETERS_KEYWORD, TESSERA_KEYWORD, validateMetadata, XMP_PNG_KEYWORD, type ImageMetadata } from './metadata.js';

/** What an image says about itself; every field is absent when the file lacks it. */
export interface ReadImageMetadata {
  /** The A1111-style infotext. */
  parameters?: string;
  /** Tessera's own JSON record. */
  tessera?: ImageMetadata;
  /** The `tessera:footprint` chunk: the request's footprint ({ scope: 'request', ...Footprint }). */
  footprint?: Footprint & { scope: 'request' };
  /** The IPTC Iptc4xmpExt:DigitalSourceType URI from the XMP packet. */
  digitalSourceType?: string;
  /** The raw XMP packet. */
  xmp?: string;
  /** Every textual chunk, in file order (including the ones above). */
  textChunks: PngTextEntry[];
}

/**
 * Finds the DigitalSourceType in an XMP packet, as an attribute or an element,
 * under whatever prefix is bound to the IPTC Extension namespace. A light reader,
 * not a full RDF parser: enough for the packets Tessera and common tools write.
 */
export function readDigitalSourceType(xmp: string): string | undefined {
  const prefixes = new Set<string>(['Iptc4xmpExt']);
  for (const match of xmp.matchAll(/xmlns:([\w.-]+)\s*=\s*["']([^"']*)["']/g)) {
    if (match[2] === IPTC_EXT_NAMESPACE) prefixes.add(match[1]);
  }
  for (const prefix of prefixes) {
    const attribute = new RegExp(`${prefix}:DigitalSourceType\\s*=\\s*["']([^"']*)["']`).exec(xmp);
    if (attribute) return unescapeXml(attribute[1]);
    const element = new RegExp(`<${prefix}:DigitalSourceType(?:\\s[^>]*)?>([^<]*)</${prefix}:DigitalSourceType>`).exec(xmp);
    if (element) return unescapeXml(element[1].trim());
    const resource = new RegExp(`<${prefix}:DigitalSourceType\\s+rdf:resource\\s*=\\s*["']([^"']*)["']`).exec(xmp);
    if (resource) return unescapeXml(resource[1]);
  }
  return undefined;
}

function parseTesseraJson(text: string): ImageMetadata {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw imageError('the tessera metadata chunk is not valid JSON', { cause: error });
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw imageError('the tessera metadata chunk is not a JSON object');
  }
  const meta = value as ImageMetadata;
  validateMetadata(meta);
  return meta;
}

function parseFootprintJson(text: string): Footprint & { scope: 'request' } {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw imageError('the tessera:footprint chunk is not valid JSON', { cause: error });
  }
  const f = value as Footprint & { scope: 'request' };
  if (typeof f !== 'object' || f === null || typeof f.energyJoules !== 'number' || typeof f.co2eGrams !== 'number') {
    throw imageError('the tessera:footprint chunk is not a footprint object (energyJoules, co2eGrams)');
  }
  return f;
}

/** Reads what a PNG says about itself. Throws TESSERA_ERR_IMAGE for a non-PNG or corrupt file. */
export function readImageMetadata(png: Uint8Array): ReadImageMetadata {
  const textChunks = readTextChunks(png);
  const result: ReadImageMetadata = { textChunks };
  for (const entry of textChunks) {
    if (entry.keyword === PARAMETERS_KEYWORD && result.parameters === undefined) result.parameters = entry.text;
    else if (entry.keyword === TESSERA_KEYWORD && result.tessera === undefined) result.tessera = parseTesseraJson(entry.text);
    else if (entry.keyword === FOOTPRINT_KEYWORD && result.footprint === undefined) result.footprint = parseFootprintJson(entry.text);
    else if (entry.keyword === XMP_PNG_KEYWORD && result.xmp === undefined) {
      result.xmp = entry.text;
      const digitalSourceType = readDigitalSourceType(entry.text);
      if (digitalSourceType !== undefined) result.digitalSourceType = digitalSourceType;
    }
  }
  return result;
}
