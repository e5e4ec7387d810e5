/**
 * The raw catalogue the objects world is cut from: Fluent Emoji Flat drawings
 * (@iconify-json/fluent-emoji-flat) joined with their CLDR English names and keywords
 * (emojibase-data). Only scripts/make-objects-concepts.ts walks the whole catalogue;
 * the world itself reads the committed eval/objects/concepts.json and the icon bodies.
 */
import { createRequire } from 'node:module';
import { TesseraError } from '../../src/errors.js';

const require = createRequire(import.meta.url);

interface IconSet {
  width: number;
  height: number;
  icons: Record<string, { body: string; width?: number; height?: number }>;
}

interface EmojibaseEntry {
  label: string;
  hexcode: string;
  tags?: string[];
  group?: number;
  subgroup?: number;
}

let iconCache: IconSet | undefined;

/** The Fluent Emoji Flat icon set (3 000+ SVG bodies on a 32x32 viewBox). */
function iconSet(): IconSet {
  if (iconCache === undefined) {
    try {
      iconCache = require('@iconify-json/fluent-emoji-flat/icons.json') as IconSet;
    } catch (error) {
      throw new TesseraError('TESSERA_ERR_DATASET', 'the objects world needs the devDependency @iconify-json/fluent-emoji-flat (npm install)', { cause: error });
    }
  }
  return iconCache;
}

/** The SVG body of one icon, by its Iconify name (e.g. "cat"). */
export function iconBody(name: string): string {
  const icon = iconSet().icons[name];
  if (icon === undefined) throw new TesseraError('TESSERA_ERR_DATASET', `no Fluent Emoji Flat icon named ${JSON.stringify(name)}`);
  return icon.body;
}

/** Emoji groups (emojibase `group`) drawn from: animals & nature, food & drink, travel & places, activities, objects. */
const GROUPS: Record<number, string> = { 3: 'nature', 4: 'food', 5: 'places', 6: 'activities', 7: 'objects' };

/** Subgroups left out whole: faces, people, clocks (all alike), maps/globes, religious places, signs. */
const EXCLUDED_SUBGROUPS = new Set([
  'cat-face', 'monkey-face', 'time', 'place-map', 'place-religious', 'money', 'sound', 'office', 'mail', 'lock', 'other-object',
  'transport-sign', 'av-symbol', 'zodiac', 'alphanum', 'keycap', 'geometric', 'other-symbol', 'math', 'punctuation', 'currency',
]);

/** Words that would make a caption ambiguous when they are part of a concept's name. */
const RESERVED = new Set([
  'red', 'orange', 'yellow', 'green', 'blue', 'purple', 'pink', 'brown', 'black', 'white', 'gray', 'grey', 'beige',
  'small', 'large', 'big', 'little', 'left', 'right', 'above', 'below', 'over', 'under', 'two', 'three', 'one', 'and', 'with',
  'face', 'person', 'man', 'woman', 'mans', 'womans', 'people', 'flag', 'symbol', 'sign', 'button', 'o', 'of', 'on', 'a', 'an', 'the',
]);

/** Keywords never used as synonyms: too generic, adjectives, verbs or emotions. */
const STOP_TAGS = new Set([
  'animal', 'animals', 'food', 'nature', 'object', 'thing', 'place', 'travel', 'vehicle', 'plant', 'fruit', 'vegetable', 'drink',
  'sick', 'love', 'happy', 'sad', 'hot', 'cold', 'fun', 'party', 'cute', 'sweet', 'tasty', 'delicious', 'celebrate', 'celebration',
  'birthday', 'christmas', 'holiday', 'summer', 'winter', 'spring', 'autumn', 'fall', 'night', 'day', 'time', 'old', 'new', 'fast',
  'slow', 'small', 'big', 'tiny', 'huge', 'nice', 'good', 'bad', 'dangerous', 'scary', 'fly', 'ride', 'play', 'eat', 'cook', 'work',
  'school', 'education', 'sport', 'sports', 'game', 'music', 'instrument', 'clothes', 'clothing', 'fashion', 'shopping', 'home',
  'house', 'building', 'city', 'weather', 'sky', 'space', 'sea', 'ocean', 'water', 'pet', 'farm', 'wild', 'zoo', 'baby',
  'class', 'gang', 'spin', 'cycle', 'soar', 'casual', 'fancy', 'weekend', 'dressed', 'resort', 'tool', 'tools', 'health',
  'medicine', 'doctor', 'science', 'lab', 'office', 'restaurant', 'breakfast', 'lunch', 'dinner', 'dessert', 'snack', 'meal',
  'japanese', 'chinese', 'italian', 'mexican', 'american', 'french', 'asian', 'british',
]);

export interface CatalogEntry {
  /** Iconify icon name (the drawing). */
  icon: string;
  /** CLDR English name, normalised: lower case, words of a-z only. */
  name: string;
  category: string;
  subgroup: string;
  /** CLDR keywords, lower case. */
  tags: string[];
}

const ADJECTIVES = new Set(['foggy', 'cloudy', 'rainy', 'snowy']);

/** CLDR names replaced by the everyday word the issue asks for. */
const RENAMES: Record<string, string> = { automobile: 'car', 'closed book': 'book', 'wrapped gift': 'gift', 'red heart': 'heart' };

function normaliseName(label: string): string | null {
  if (RENAMES[label] !== undefined) return RENAMES[label];
  const name = label.toLowerCase().replace(/[’']/g, '').replace(/-/g, ' ').replace(/\s+/g, ' ').trim();
  if (!/^[a-z]+( [a-z]+){0,2}$/.test(name)) return null;
  if (name.split(' ').some((w) => RESERVED.has(w) || w.length < 2)) return null;
  // Names already plural ("books", "fireworks") or adjectives ("foggy") make no countable noun.
  if ((/s$/.test(name) && !/(ss|us|is)$/.test(name)) || ADJECTIVES.has(name)) return null;
  return name;
}

/**
 * Candidate concepts: every non-ZWJ emoji of the five groups whose drawing exists,
 * minus the excluded subgroups and names with reserved words. The red heart (a symbol
 * by group) is added as "heart": the issue names it as a colourable concept.
 */
export function catalogEntries(): CatalogEntry[] {
  let data: EmojibaseEntry[];
  let messages: { subgroups: { key: string; order: number }[] };
  let chars: Record<string, string>;
  try {
    data = require('emojibase-data/en/data.json') as EmojibaseEntry[];
    messages = require('emojibase-data/en/messages.json') as typeof messages;
    chars = require('@iconify-json/fluent-emoji-flat/chars.json') as Record<string, string>;
  } catch (error) {
    throw new TesseraError('TESSERA_ERR_DATASET', 'the objects catalogue needs the devDependencies emojibase-data and @iconify-json/fluent-emoji-flat', { cause: error });
  }
  const subgroups = new Map(messages.subgroups.map((s) => [s.order, s.key]));
  const icons = iconSet().icons;
  const entries: CatalogEntry[] = [];
  const seen = new Set<string>();
  for (const e of data) {
    const isHeart = e.label === 'red heart';
    if (!isHeart && (e.group === undefined || GROUPS[e.group] === undefined)) continue;
    if (e.hexcode.includes('200D')) continue;
    const subgroup = subgroups.get(e.subgroup ?? -1) ?? '';
    // Faces, and card suits (symbols drawn as objects).
    if (EXCLUDED_SUBGROUPS.has(subgroup) || /face|suit$/.test(e.label)) continue;
    const icon = chars[e.hexcode.toLowerCase()] ?? chars[e.hexcode.toLowerCase().replace(/-fe0f/g, '')];
    if (icon === undefined || icons[icon] === undefined || icons[icon].body.includes('url(#')) continue;
    const name = normaliseName(e.label);
    if (name === null || seen.has(name)) continue;
    seen.add(name);
    entries.push({ icon, name, category: isHeart ? 'objects' : GROUPS[e.group as number], subgroup, tags: (e.tags ?? []).map((t) => t.toLowerCase()) });
  }
  return entries;
}

const IRREGULAR: Record<string, string> = {
  mouse: 'mice', goose: 'geese', sheep: 'sheep', deer: 'deer', fish: 'fish', bison: 'bison', ox: 'oxen', knife: 'knives',
  leaf: 'leaves', wolf: 'wolves', scarf: 'scarves', shrimp: 'shrimp', squid: 'squid', sushi: 'sushi', rice: 'rice',
  moose: 'moose', tooth: 'teeth', foot: 'feet', potato: 'potatoes', tomato: 'tomatoes', mango: 'mangoes', volcano: 'volcanoes',
  cactus: 'cacti', fungus: 'fungi', octopus: 'octopuses', bus: 'buses', sauropod: 'sauropods', spaghetti: 'spaghetti',
};

/** English plural of a concept name (its last word). */
export function pluralOf(name: string): string {
  const words = name.split(' ');
  const last = words[words.length - 1];
  let plural: string;
  if (IRREGULAR[last] !== undefined) plural = IRREGULAR[last];
  else if (/(s|x|z|ch|sh)$/.test(last)) plural = last + 'es';
  else if (/[^aeiou]y$/.test(last)) plural = last.slice(0, -1) + 'ies';
  else plural = last + 's';
  return [...words.slice(0, -1), plural].join(' ');
}

/**
 * CLDR keywords accepted as synonyms: the keywords are a mix of nouns, adjectives,
 * verbs and associations ("roar", "lazy", "pirate"), so only these, read by hand from
 * the unique keywords of the candidate concepts, name the thing itself.
 */
const NOUN_SYNONYMS = new Set([
  'kitten', 'ape', 'elk', 'mule', 'burro', 'racehorse', 'lamb', 'dromedary', 'alpaca', 'hippo', 'bunny', 'squirrel', 'tortoise',
  'serpent', 'dinosaur', 'brontosaurus', 'bee', 'bumblebee', 'ladybird', 'ladybug', 'grasshopper', 'roach', 'earthworm', 'amoeba',
  'sprout', 'toadstool', 'grape', 'cantaloupe', 'blueberry', 'aubergine', 'capsicum', 'peanut', 'loaf', 'toast', 'pancake',
  'drumstick', 'burger', 'hotdog', 'sausage', 'gyro', 'kebab', 'noodle', 'ramen', 'pasta', 'prawn', 'donut', 'coffee', 'martini',
  'stein', 'whiskey', 'juice', 'log', 'timber', 'boulder', 'subway', 'van', 'highway', 'tire', 'yacht', 'motorboat', 'jet', 'copter',
  'ufo', 'suitcase', 'saturn', 'flame', 'present', 'prize', 'puck', 'shuttlecock', 'sleigh', 'toboggan', 'dart', 'target', 'dice',
  'jigsaw', 'plush', 'eyeglasses', 'denim', 'trousers', 'sneaker', 'slipper', 'stiletto', 'comb', 'tophat', 'jewel', 'piano',
  'conga', 'piccolo', 'calculator', 'camcorder', 'torch', 'spanner', 'cog', 'chain', 'toolbox', 'rucksack', 'satchel', 'bike',
]);

/**
 * Synonyms of each entry from its CLDR keywords: single words that belong to this
 * concept alone among `entries` (so "kitten" names the cat, "pet" names nothing), are
 * no other concept's name, and look like nouns (no -ing/-ed/-ly/-ful/-ous, not in
 * STOP_TAGS). At most `max` per concept.
 */
export function synonymsOf(entries: readonly CatalogEntry[], max = 2): Map<string, string[]> {
  const owners = new Map<string, number>();
  const nameWords = new Set<string>();
  for (const e of entries) {
    for (const w of e.name.split(' ')) nameWords.add(w);
    nameWords.add(e.name);
    nameWords.add(pluralOf(e.name));
    for (const t of new Set(e.tags)) owners.set(t, (owners.get(t) ?? 0) + 1);
  }
  const result = new Map<string, string[]>();
  for (const e of entries) {
    const own = new Set([e.name, pluralOf(e.name), ...e.name.split(' ')]);
    const synonyms = e.tags.filter((t) => /^[a-z]{3,}$/.test(t) && owners.get(t) === 1 && !own.has(t) && !nameWords.has(t) &&
      NOUN_SYNONYMS.has(t) && !RESERVED.has(t) && !STOP_TAGS.has(t) && !/(ing|ed|ly|ful|ous|ish)$/.test(t) &&
      !own.has(t.replace(/s$/, '')) && !own.has(t.replace(/es$/, '')));
    result.set(e.name, synonyms.slice(0, max));
  }
  return result;
}
