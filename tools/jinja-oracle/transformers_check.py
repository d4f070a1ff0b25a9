"""Cross-checks TestData/expected.json (rendered by @huggingface/jinja) against Python's Jinja2 configured the way
transformers' apply_chat_template configures it: an ImmutableSandboxedEnvironment with trim_blocks, lstrip_blocks
and loop controls, json.dumps(ensure_ascii=False) as tojson, raise_exception and strftime_now as globals, and
tools=None / documents=None unless given. Needs jinja2 >= 3.1 (Debian: apt-get install python3-jinja2).

    python3 transformers_check.py               # expected.json: exit status 1 when any case renders differently
    python3 transformers_check.py --constructs  # every InlineData(template, expected) of ConstructTests.cs
"""
import ast
import json
import sys
from datetime import datetime
from pathlib import Path

import jinja2
import jinja2.ext
from jinja2.sandbox import ImmutableSandboxedEnvironment

TEST_DATA = Path(__file__).resolve().parent.parent.parent / "tests" / "PolicyKit.Templating.Tests" / "TestData"


class Generation(jinja2.ext.Extension):
    """transformers' {% generation %} block; for rendering it only outputs its body."""

    tags = {"generation"}

    def parse(self, parser):
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(("name:endgeneration",), drop_needle=True)
        return jinja2.nodes.CallBlock(self.call_method("_render"), [], [], body).set_lineno(lineno)

    def _render(self, caller):
        return caller()


def make_environment():
    def raise_exception(message):
        raise jinja2.exceptions.TemplateError(message)

    def tojson(value, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(value, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[Generation, jinja2.ext.loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = lambda fmt: datetime.now().strftime(fmt)
    return env


def special_tokens(config):
    tokens = {}
    for name in ("bos_token", "eos_token", "pad_token", "unk_token", "sep_token", "cls_token", "mask_token"):
        value = config.get(name)
        text = value if isinstance(value, str) else value.get("content") if isinstance(value, dict) else None
        if text:
            tokens[name] = text
    return tokens


def main():
    env = make_environment()
    manifest = json.loads((TEST_DATA / "templates.json").read_text("utf8"))["templates"]
    conversations = {c["name"]: c for c in json.loads((TEST_DATA / "conversations.json").read_text("utf8"))["conversations"]}
    expected = json.loads((TEST_DATA / "expected.json").read_text("utf8"))["cases"]
    loaded = {}
    for entry in manifest:
        if "jinja" in entry:
            source, tokens = (TEST_DATA / "templates" / entry["jinja"]).read_text("utf8"), {}
        else:
            config = json.loads((TEST_DATA / "templates" / entry["config"]).read_text("utf8"))
            template = config["chat_template"]
            source = template if isinstance(template, str) else next(t["template"] for t in template if t["name"] == "default")
            tokens = special_tokens(config)
        loaded[entry["name"]] = (env.from_string(source), {**tokens, **entry.get("variables", {})})

    mismatches = 0
    for case in expected:
        template, variables = loaded[case["template"]]
        conversation = conversations[case["conversation"]]
        kwargs = {**variables, **conversation.get("variables", {})}
        try:
            actual = {"output": template.render(messages=conversation["messages"], tools=conversation.get("tools"), documents=None,
                                                add_generation_prompt=case["add_generation_prompt"], **kwargs)}
        except Exception as error:  # noqa: BLE001 - any failure of the template counts as an error case
            actual = {"error": str(error), "raised": type(error) is jinja2.exceptions.TemplateError}
        wanted = {k: case[k] for k in ("output", "error") if k in case}
        # A template's own raise_exception(msg) must carry the same msg; other errors only have to be errors in both.
        same = ("output" in actual and actual == wanted) or (
            "error" in actual and "error" in wanted and (not actual["raised"] or actual["error"] == wanted["error"]))
        if not same:
            mismatches += 1
            print(f"DIFFERENT {case['template']} / {case['conversation']} / add_generation_prompt={case['add_generation_prompt']}")
            print(f"  @huggingface/jinja: {json.dumps(wanted, ensure_ascii=False)[:400]}")
            print(f"  Python jinja2:      {json.dumps(actual, ensure_ascii=False)[:400]}")
    print(f"{len(expected)} cases, {mismatches} different (Python jinja2 {jinja2.__version__})")
    return 1 if mismatches else 0


# The context ConstructTests.Context builds in C#, as Python values.
CONSTRUCT_CONTEXT = {
    "name": "World", "n": 7, "f": 2.5, "zero": 0, "t": True, "none": None,
    "items": ["b", "a", "c"], "nums": [3, 1, 2], "d": {"x": 1, "y": "two", "z": [1, 2]},
    "people": [{"name": "Ann", "age": 31, "admin": True}, {"name": "bob", "age": 25, "admin": False}, {"name": "Cy", "age": 40}],
    "text": "  Hello, World  ",
    "messages": [{"role": "system", "content": "S"}, {"role": "user", "content": "U1"},
                 {"role": "assistant", "content": "A1"}, {"role": "user", "content": "U2"}],
    "empty": [], "s": "a,b,,c",
}


def inline_data(source):
    """Yields the string arguments of each [InlineData(...)] attribute (C# regular string literals)."""
    at = 0
    while (at := source.find("[InlineData(", at)) >= 0:
        at += len("[InlineData(")
        literals = []
        while True:
            while source[at] in " ,\n\r\t":
                at += 1
            if source[at] != '"':
                break
            end = at + 1
            while source[end] != '"':
                end += 2 if source[end] == "\\" else 1
            # C#'s \n \t \" \\ \uXXXX escapes read the same in Python.
            literals.append(ast.literal_eval(source[at:end + 1]))
            at = end + 1
        yield literals


def check_constructs():
    env = make_environment()
    source = (TEST_DATA.parent / "ConstructTests.cs").read_text("utf8")
    cases = list(inline_data(source))
    mismatches = 0
    for template, expected in cases:
        actual = env.from_string(template).render(**CONSTRUCT_CONTEXT)
        if actual != expected:
            mismatches += 1
            print(f"DIFFERENT {template!r}\n  test says: {expected!r}\n  jinja2:    {actual!r}")
    print(f"{len(cases)} construct cases, {mismatches} different (Python jinja2 {jinja2.__version__})")
    return 1 if mismatches else 0


if __name__ == "__main__":
    sys.exit(check_constructs() if "--constructs" in sys.argv else main())
