'use strict';
// The strings PolicyKit's tokenizer is compared on. Every class of input that once came out differently from
// Hugging Face has its own group, next to everyday text (prose, code, whitespace, many scripts).
// Only valid Unicode here, except the one group that checks how lone surrogates are treated.

const astralLettersAndDigits = [
  ' 𝟏𝟐', '𞤀\'s', '𝟏𝟐𝟑𝟒', 'x𝟙𝟚𝟛𝟜𝟝', '𝐇𝐞𝐥𝐥𝐨 𝐖𝐨𝐫𝐥𝐝', '𝔘𝔫𝔦𝔠𝔬𝔡𝔢 text', '𝑥+𝑦=𝑧', '\'𝐒 \'𝐋𝐋',
  '𐐀𐐨𐐯 Deseret', '𞤀𞤢𞤤 Adlam', '𐍈𐌰𐌹𐍂 Gothic', '𓀀𓀁𓀂 hieroglyphs', '𒀀𒀁 cuneiform', '𠀀𠀁𠀂 ext-B',
  '𑁦𑁧𑁨 Brahmi digits', '𝟎123', '12𝟑45', '1𝟐3𝟒5𝟔7', '𐅀𐅁 Greek acrophonic', '𒐀𒐁 cuneiform numbers',
  '𝅘𝅥𝅮 𝄞 music', ' 𝟏', '  𝟏𝟐  ', '\n𝐀', 'a𝐀b', '𝐀\'s', '𝐚\'ll', '𝟗𝟗𝟗𝟗𝟗𝟗𝟗', '𝐀𝐁𝐂123', '(𝐱)', '"𝐱"',
  '𑀅𑀆 Brahmi', '𖼀 Miao', '𝒜𝒷𝒸', '𝔸𝕓𝕔𝟘𝟙', '󠁧 tag', '\u{F0000} private use', '\u{1D7CE}\u{0301}',
];

const addedTokensAndCombiningMarks = [
  '<|im_end|>\u0338', '<|endoftext|>\u0301', '<|im_start|>\u0338user', 'a<|im_end|>\u0338b', '<think>\u0338',
  '</think>\u0301x', '<|eot_id|>\u0338', '<|begin_of_text|>\u0338', '<|end_header_id|>\u0301', '>\u0338', 'x>\u0338',
  'e\u0301', 'A\u030A', '\u1100\u1161\u11A8', 'a\u0300\u0301\u0302', 'Z\u0351\u0352\u0353alg\u0354o', '\u2126 ohm',
  '\u212B angstrom', 'ﬁ ligature', '\u00C5\u030A', 'Ç = C\u0327', '\u0958 devanagari qa',
];

const specialAndNonSpecialTokens = [
  '<think>I should answer.</think>The answer is 4.', '<tool_call>{"name": "f", "arguments": {}}</tool_call>',
  '<|fim_prefix|>def f(x):<|fim_suffix|>    return y<|fim_middle|>', '<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n',
  '<|endoftext|>', '<tool_response>ok</tool_response>', '<|repo_name|>policykit<|file_sep|>README.md',
  '<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nhi<|eot_id|>', '<|reserved_special_token_5|>x',
  '<|finetune_right_pad_id|><|eom_id|>', '<|python_tag|>print(1)',
];

const addedTokensNextToText = [
  'x<|endoftext|>y', '<|endoftext|><|endoftext|>', ' <|im_end|> ', '<|im_end', '|im_end|>', '<<|im_end|>>',
  '<|im_start|><|im_end|>', 'word<think>', '<think>word', ' <think> ', '\n<|im_end|>\n', '<|im_end|><|im_end|>x',
  '<|eot_id|><|eot_id|>', 'a<|eot_id|>', '<|eot_id|>a', '<|start_header_id|>system<|end_header_id|>',
  '<|vision_start|><|image_pad|><|vision_end|>', '<|box_start|>(1,2)<|box_end|>', '<| im_end |>', '<|IM_END|>',
];

const emoji = [
  '👍', '👍🏽', '👨‍👩‍👧‍👦', '🇺🇸🇯🇵🇩🇪', '🏴󠁧󠁢󠁥󠁮󠁧󠁿', '❤️', '1️⃣ 2️⃣', '🙂 ok 🙃', 'emoji🎉in🎉text', '🧑🏿‍🚀 astronaut',
  '😀😃😄😁😆😅', '🤷‍♀️', '🏳️‍🌈', '©️®️™️', '🐍 python', '✅ done', '👩🏻‍💻👨🏾‍💻', '(╯°□°)╯︵ ┻━┻', '🫠🫡🫥',
];

const scripts = [
  '你好，世界！', '日本語のテキストです。', '한국어 문장입니다.', '漢字かなカナ混じり文', '中文English混合123',
  '机器学习是人工智能的一个分支。', 'これは「テスト」です', '東京都渋谷区１２３', 'مرحبا بالعالم', 'اللغة العربية ١٢٣',
  'नमस्ते दुनिया', 'हिन्दी में लिखा गया पाठ।', 'עברית קלה', 'ไทย ภาษา', 'Ελληνικά κείμενα', 'Русский текст, ёжик',
  'Українська мова', 'ქართული', 'Հայերեն', 'বাংলা', 'தமிழ்', 'తెలుగు', 'ગુજરાતી', 'ಕನ್ನಡ', 'മലയാളം', 'සිංහල',
  'ᠮᠣᠩᠭᠣᠯ', 'བོད་ཡིག', 'ខ្មែរ', 'ລາວ', 'မြန်မာ', 'አማርኛ', 'Tiếng Việt có dấu', 'Çok güzel İstanbul', 'Straße ß ẞ',
  'naïve café résumé', 'Ærøskøbing', 'Łódź Żółć', 'ǅemal ǈubav ǋegoš', 'ﬀ ﬃ ﬆ', 'Kelvin \u212A', 'ſ long s',
];

const code = [
  'def f(x):\n    return x * 2  # double\n', 'for (int i = 0; i < n; i++) { sum += a[i]; }',
  'public sealed class Foo<T> where T : struct { }', '{"key": [1, 2.5, true, null], "k2": "v"}',
  '<div class="a">Hello &amp; bye</div>', 'SELECT * FROM t WHERE id = 42 AND name LIKE \'%x%\';',
  'std::vector<int> v{1,2,3};', 'x = [i**2 for i in range(10) if i % 2 == 0]', 'if (a != b && c >= d || !e) {}',
  '#include <stdio.h>\nint main(void) { printf("%d\\n", 1); }', 'fn main() -> Result<(), Box<dyn Error>> { Ok(()) }',
  'const f = async () => { await g?.(); };', 'git commit -m "fix: it\'s done" && git push origin main',
  '/^(?:[a-z0-9!#$%&\'*+/=?^_`{|}~-]+)$/i', 'a+=1;b-=2;c*=3;d/=4;e%=5;', '    \tmixed indent\n\t    again',
  'SELECT\r\n  a,\r\n  b\r\nFROM t', '$ ls -la | grep "\\.cs$" > out.txt 2>&1', '@"C:\\path\\to\\file.txt"',
  'x := map[string]int{"a": 1}', '    }\n  }\n}\n', '/* comment */ // line\n-- sql\n# hash', '0xFF 0b1010 1e-9 3.0f 10_000',
];

const whitespace = [
  '', ' ', '  ', '   ', '\t', '\n', '\r\n', '\n\n\n', 'a  b', 'a   b', 'a    b', '  leading', 'trailing  ',
  '\t\tindent', 'a\r\nb', 'line1\r\n\r\nline2', ' \n ', 'x \t y', '\u00a0nbsp', '\u3000ideographic space',
  '\u2003em\u2002en\u2009thin', '   \n   \n', 'a\n\n\nb', 'end.\n', ' \r\n \r\n', '\r', '\r\r\n\n', '\v\f',
  '\u0085next line', ' \u0085x', '\u2028line\u2029para', '\u001cfile\u001fsep', 'a\u180eb', '\u200bzero\u200cwidth\u200d',
  '\ufeffbom', '\u0000nul\u0001soh', 'tab\there', 'word \n\tword', '  \t  \n\n  ',
];

const digits = [
  '1', '12', '123', '1234', '12345', '123456', '1234567', '1234567890', '3.14159', '1,000,000', '12345 67890',
  '0x1F', '2024-01-01T12:34:56Z', '٣٤٥ Arabic-Indic', '१२३ Devanagari', '１２３ fullwidth', '½ ¾ ² ³', 'Ⅻ Ⅳ ⅷ',
  '$1,234.56', '-42', '+7 (495) 123-45-67', 'v1.2.3-beta.4', 'a1b22c333d4444', '99 bottles', '1st 2nd 3rd 4th',
];

const contractions = [
  'I\'m', 'don\'t', 'WE\'LL', 'They\'RE', 'it\'S', '\'s', '\'ve\'', 'y\'all', 'O\'Neil', 'l\'été', '\'ſ', 'ǅ\'s',
  'I\'D\'VE', 'rock \'n\' roll', 'she\'ll\'ve', '\'T\'M\'D', 'isn’t', 'can\'T', '\'\'s', '\'S\'LL', '\'Ll \'lL',
  'it\'s 5 o\'clock', '\'re\'re\'re',
];

const prose = [
  'The quick brown fox jumps over the lazy dog.', 'Hello, World!', 'the cat and the hat, naïve 数字 123\n\tend',
  'Diffusion language models generate by unmasking a response over many denoising steps.',
  'She said: "It\'s fine — really…" and left.', 'Mr. Smith paid $5.00 (five dollars) at 3:30 p.m.',
  'E = mc² and ∑ᵢ xᵢ ≤ ∞', 'UPPER lower MiXeD CamelCase snake_case kebab-case', 'Ünïcödé wörds everywhere',
  'hyphen-ated words and em—dashes and en–dashes', '...!!!???', '"quoted" \'single\' «guillemets» „low“',
  '¿Dónde está la biblioteca?', 'Ça va? Très bien!', 'https://example.com/path?q=1&r=2#frag', 'user@example.org',
];

// Runs that exercise how the split regex counts: whitespace before words, digit groups, punctuation runs.
const generated = [];
for (let n = 1; n <= 8; n++) {
  generated.push('a' + ' '.repeat(n) + 'b', ' '.repeat(n) + 'x', 'x' + ' '.repeat(n), '\n'.repeat(n) + 'y');
  generated.push('9'.repeat(n), '𝟗'.repeat(n), '!'.repeat(n) + 'x', '\t'.repeat(n) + 'z');
}
for (let n = 9; n <= 13; n++) generated.push('1234567890123'.slice(0, n));

const loneSurrogates = ['\ud800x', 'a\udc00b', 'x\ud83d', '\udfff\ud800'];

/** Every corpus string; the groups are only for reading. */
module.exports = {
  groups: {
    astralLettersAndDigits, addedTokensAndCombiningMarks, specialAndNonSpecialTokens, addedTokensNextToText, emoji,
    scripts, code, whitespace, digits, contractions, prose, generated, loneSurrogates,
  },
};
