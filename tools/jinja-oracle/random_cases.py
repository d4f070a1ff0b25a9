"""Random conversations rendered by Python's Jinja2 configured as transformers configures it (transformers_check.py),
for every committed template: a differential test beyond the hand-picked conversations. Writes
TestData/random-cases.json, which RandomConversationTests renders with PolicyKit.Templating and compares.

    python3 random_cases.py [seed] [conversations]     # defaults: seed 20, 60 conversations
"""
import json
import random
import sys

import jinja2

from transformers_check import TEST_DATA, make_environment, special_tokens

# Fragments that stress templates: whitespace at the edges, unicode, Jinja syntax, the tags templates split on.
FRAGMENTS = ["hello", " ", "\n", "\n\n", "  ", "\t", "é", "世界", "🌍", "{{ x }}", "{%", "'", '"', "\\", "<think>", "</think>",
             "<tool_response>", "</tool_response>", "a", "42", "—", "  padded  ", "<|im_end|>"]


def main():
    seed = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 60
    rng = random.Random(seed)

    def text():
        return "".join(rng.choice(FRAGMENTS) for _ in range(rng.randint(0, 6)))

    def value(depth=0):
        kind = rng.randint(0, 7 if depth < 2 else 5)
        if kind in (0, 5):
            return text()
        if kind == 1:
            return rng.randint(-5, 100)
        if kind == 2:
            return rng.choice([0.5, 2.25, -1.75])
        if kind == 3:
            return rng.choice([True, False])
        if kind == 4:
            return None
        if kind == 6:
            return [value(depth + 1) for _ in range(rng.randint(0, 3))]
        return {f"k{i}{text()[:3]}": value(depth + 1) for i in range(rng.randint(0, 3))}

    def conversation():
        messages = []
        if rng.random() < 0.5:
            messages.append({"role": "system", "content": text()})
        for _ in range(rng.randint(0, 6)):
            role = rng.choice(["user", "assistant", "user", "assistant", "tool"])
            message = {"role": role, "content": text()}
            if role == "assistant" and rng.random() < 0.3:
                message["tool_calls"] = [
                    {"type": "function", "function": {"name": rng.choice(["f", "get_weather"]),
                                                      "arguments": rng.choice([{"a": value()}, json.dumps({"q": text()}, ensure_ascii=False)])}}
                    for _ in range(rng.randint(1, 2))]
            if role == "assistant" and rng.random() < 0.2:
                message["reasoning_content"] = text()
            messages.append(message)
        result = {"messages": messages}
        if rng.random() < 0.3:
            result["tools"] = [{"type": "function", "function": {"name": "f", "description": text(),
                                                                 "parameters": {"type": "object", "properties": {"a": {"type": "string"}}}}}]
        if rng.random() < 0.3:
            result["variables"] = {"enable_thinking": rng.random() < 0.5}
        return result

    env = make_environment()
    templates = {}
    for entry in json.loads((TEST_DATA / "templates.json").read_text("utf8"))["templates"]:
        if "jinja" in entry:
            source, tokens = (TEST_DATA / "templates" / entry["jinja"]).read_text("utf8"), {}
        else:
            config = json.loads((TEST_DATA / "templates" / entry["config"]).read_text("utf8"))
            source, tokens = config["chat_template"], special_tokens(config)
        templates[entry["name"]] = (env.from_string(source), {**tokens, **entry.get("variables", {})})

    conversations = [conversation() for _ in range(count)]
    results = []
    for index, conv in enumerate(conversations):
        for name, (template, variables) in templates.items():
            add_generation_prompt = rng.random() < 0.5
            result = {"conversation": index, "template": name, "add_generation_prompt": add_generation_prompt}
            try:
                result["output"] = template.render(messages=conv["messages"], tools=conv.get("tools"), documents=None,
                                                   add_generation_prompt=add_generation_prompt, **variables, **conv.get("variables", {}))
            except Exception as error:  # noqa: BLE001 - an error is an expected result too
                result["error"] = str(error)
                result["raised"] = type(error) is jinja2.exceptions.TemplateError
            results.append(result)
    out = {"renderer": f"Python Jinja2 {jinja2.__version__}, transformers' settings", "seed": seed,
           "conversations": conversations, "results": results}
    (TEST_DATA / "random-cases.json").write_text(json.dumps(out, ensure_ascii=False, indent=None) + "\n", "utf8")
    print(f"{len(results)} results ({sum('error' in r for r in results)} errors) over {count} conversations -> TestData/random-cases.json")


if __name__ == "__main__":
    main()
