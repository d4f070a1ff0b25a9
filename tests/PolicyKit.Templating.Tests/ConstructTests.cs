namespace PolicyKit.Templating.Tests;

/// <summary>
/// One or more hand-written cases per supported construct, all against the same context. The expected strings are
/// what Python's Jinja2 renders with transformers' settings (tools/jinja-oracle/transformers_check.py --constructs
/// re-checks every InlineData of this file against it).
/// </summary>
public class ConstructTests
{
    internal static readonly Dictionary<string, object?> Context = new()
    {
        ["name"] = "World",
        ["n"] = 7,
        ["f"] = 2.5,
        ["zero"] = 0,
        ["t"] = true,
        ["none"] = null,
        ["items"] = new[] { "b", "a", "c" },
        ["nums"] = new List<int> { 3, 1, 2 },
        ["d"] = new Dictionary<string, object?> { ["x"] = 1, ["y"] = "two", ["z"] = new[] { 1, 2 } },
        ["people"] = new object[]
        {
            new Dictionary<string, object?> { ["name"] = "Ann", ["age"] = 31, ["admin"] = true },
            new Dictionary<string, object?> { ["name"] = "bob", ["age"] = 25, ["admin"] = false },
            new Dictionary<string, object?> { ["name"] = "Cy", ["age"] = 40 },
        },
        ["text"] = "  Hello, World  ",
        ["messages"] = new object[]
        {
            new Dictionary<string, object?> { ["role"] = "system", ["content"] = "S" },
            new Dictionary<string, object?> { ["role"] = "user", ["content"] = "U1" },
            new Dictionary<string, object?> { ["role"] = "assistant", ["content"] = "A1" },
            new Dictionary<string, object?> { ["role"] = "user", ["content"] = "U2" },
        },
        ["empty"] = Array.Empty<object>(),
        ["s"] = "a,b,,c",
    };

    private static string Render(string template) => ChatTemplate.Parse(template).Render(Context);

    [Theory]
    [InlineData("a\n{% if t %}\nb\n{% endif %}\nc", "a\nb\nc")]
    [InlineData("a\n    {% if t %}\n    b\n    {% endif %}\nc", "a\n    b\nc")]
    [InlineData("a  {%- if t %} b {% endif -%}  c", "a b c")]
    [InlineData("{{ 'x' }}\n{{ 'y' }}", "x\ny")]
    [InlineData("{# comment #}\nA", "A")]
    [InlineData("  {# indented comment #}\nA", "A")]
    [InlineData("  {%+ if t %}x{% endif %}", "  x")]
    [InlineData("{% if t +%}\nx{% endif %}", "\nx")]
    [InlineData("A {{- ' B ' -}} C", "A B C")]
    [InlineData("{%- if t -%}\n\n  x  \n\n{%- endif -%}", "x")]
    [InlineData("line {{ 1 }} {% if t %}kept spaces{% endif %}", "line 1 kept spaces")]
    [InlineData("x\n", "x")]
    [InlineData("x\n\n", "x\n")]
    [InlineData("x\r\ny", "x\ny")]
    public void WhitespaceControl(string template, string expected) => Assert.Equal(expected, Render(template));

    [Theory]
    [InlineData("{{ none }} {{ t }} {{ [1, 'a', none] }} {{ {'k': 1} }} {{ (1, 2) }} {{ (1,) }}", "None True [1, 'a', None] {'k': 1} (1, 2) (1,)")]
    [InlineData("{{ f }} {{ 1.0 }} {{ 10 / 4 }} {{ 10 / 5 }} {{ 1e20 }} {{ 0.0001 }} {{ 1e-05 }}", "2.5 1.0 2.5 2.0 1e+20 0.0001 1e-05")]
    [InlineData("[{{ undefined_variable }}]", "[]")]
    [InlineData("{{ 'a\\tb' }}|{{ \"it's\" }}|{{ 'x' 'y' }}|{{ '\\u00e9\\x41' }}|{{ 'back\\\\slash' }}", "a\tb|it's|xy|éA|back\\slash")]
    [InlineData("{{ \"quote's\" ~ [\"it's\"] }}", "quote's[\"it's\"]")]
    public void LiteralsAndPrinting(string template, string expected) => Assert.Equal(expected, Render(template));

    [Theory]
    [InlineData("{{ 7 // 2 }} {{ -7 // 2 }} {{ 7 % 3 }} {{ -7 % 3 }} {{ 2 ** 10 }} {{ 7.5 // 2 }}", "3 -4 1 2 1024 3.0")]
    [InlineData("{{ 1 + 2 * 3 }} {{ (1 + 2) * 3 }} {{ n - 10 }} {{ -n }} {{ n + f }}", "7 9 -3 -7 9.5")]
    [InlineData("{{ 'a' ~ 1 ~ none ~ t }}", "a1NoneTrue")]
    [InlineData("{{ 'ab' * 3 }} {{ [1] + [2] }} {{ 'x' + 'y' }}", "ababab [1, 2] xy")]
    [InlineData("{{ 1 < 2 < 3 }} {{ 3 > 2 > 2 }} {{ 'a' < 'b' }} {{ 2 >= 2.0 }}", "True False True True")]
    [InlineData("{{ 'a' in 'cat' }} {{ 2 in nums }} {{ 'x' in d }} {{ 'q' not in d }} {{ 'U1' in messages|map(attribute='content') }}", "True True True True True")]
    [InlineData("{{ not t }} {{ t and 'yes' }} {{ none or 'fallback' }} {{ zero or empty }} {{ not none and 1 }}", "False yes fallback [] 1")]
    [InlineData("{{ 'yes' if n > 5 else 'no' }} [{{ 'x' if false }}] {{ 'a' if false else 'b' if true else 'c' }}", "yes [] b")]
    [InlineData("{{ messages|length - 1 }} {{ 1 == 1.0 }} {{ t == 1 }} {{ [1, 2] == [1, 2] }} {{ d == {'x': 1, 'y': 'two', 'z': [1, 2]} }}", "3 True True True True")]
    [InlineData("{{ not 1 in nums }} {{ not (1 in nums) }} {{ -2 ** 2 }}", "False False 4")]
    public void Operators(string template, string expected) => Assert.Equal(expected, Render(template));

    [Theory]
    [InlineData("{{ d.x }} {{ d['y'] }} {{ d.z[1] }} {{ d.z.0 }} {{ d.missing is defined }} {{ d['missing'] is defined }}", "1 two 2 1 False False")]
    [InlineData("{{ items[-1] }} {{ items[0:2] }} {{ items[::-1] }} {{ items[1:] }} {{ items[:-1] }} {{ items[::2] }}", "c ['b', 'a'] ['c', 'a', 'b'] ['a', 'c'] ['b', 'a'] ['b', 'c']")]
    [InlineData("{{ 'hello'[1:3] }} {{ 'hello'[::-1] }} {{ 'hello'[-1] }} {{ messages[1:]|length }} {{ items[10] is defined }}", "el olleh o 3 False")]
    [InlineData("{{ messages[0].role }} {{ messages[-1]['content'] }} {{ people[2].admin is defined }}", "system U2 False")]
    [InlineData("{{ none.x is defined }} [{{ none.x }}]", "False []")]
    public void MemberIndexAndSlice(string template, string expected) => Assert.Equal(expected, Render(template));

    [Theory]
    [InlineData("{% for x in items %}{{ loop.index }}{{ loop.index0 }}{{ loop.first }}{{ loop.last }}{{ loop.length }}{{ loop.revindex }}{{ loop.revindex0 }}|{% endfor %}",
        "10TrueFalse332|21FalseFalse321|32FalseTrue310|")]
    [InlineData("{% for x in empty %}x{% else %}nothing{% endfor %}", "nothing")]
    [InlineData("{% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %}", "x=1;y=two;z=[1, 2];")]
    [InlineData("{% for (k, v) in d|items %}{{ k }}{% endfor %} {% for k in d %}{{ k }}{% endfor %} {% for c in 'ab' %}{{ c }}.{% endfor %}", "xyz xyz a.b.")]
    [InlineData("{% for m in messages if m.role == 'user' %}{{ loop.index }}:{{ m.content }}/{{ loop.length }} {% endfor %}", "1:U1/2 2:U2/2 ")]
    [InlineData("{% for m in messages if m.role == 'tool' %}x{% else %}no tools{% endfor %}", "no tools")]
    [InlineData("{% for i in range(10) %}{% if i == 2 %}{% continue %}{% endif %}{% if i > 4 %}{% break %}{% endif %}{{ i }}{% endfor %}", "0134")]
    [InlineData("{% for a in [1, 2] %}{% for b in [3, 4] %}{{ a }}{{ b }}{{ loop.index }} {% endfor %}{{ loop.index }};{% endfor %}", "131 142 1;231 242 2;")]
    [InlineData("{% for x in nums %}{{ loop.previtem|default('-') }}{{ x }}{{ loop.nextitem|default('-') }} {% endfor %}", "-31 312 12- ")]
    [InlineData("{% for x in items %}{{ loop.cycle('o', 'e') }}{% endfor %}", "oeo")]
    [InlineData("{% for message in messages[::-1] %}{{ (messages|length - 1) - loop.index0 }}{{ message.content }} {% endfor %}", "3U2 2A1 1U1 0S ")]
    [InlineData("{% for x in missing_list %}x{% else %}empty{% endfor %}", "empty")]
    [InlineData("{% for (x) in items %}{{ x }}{% endfor %}", "bac")]
    public void ForLoops(string template, string expected) => Assert.Equal(expected, Render(template));

    [Theory]
    [InlineData("{% set v = 1 %}{% for x in items %}{% set v = 2 %}{% endfor %}{{ v }}", "1")]
    [InlineData("{% for x in items %}{% set last = x %}{% endfor %}[{{ last }}]", "[]")]
    [InlineData("{% if t %}{% set v = 3 %}{% endif %}{{ v }}", "3")]
    [InlineData("{% set ns = namespace(count=0, found=false) %}{% for x in nums %}{% set ns.count = ns.count + x %}{% if x == 1 %}{% set ns.found = true %}{% endif %}{% endfor %}{{ ns.count }} {{ ns.found }}", "6 True")]
    [InlineData("{% set a, b = 1, 2 %}{{ a }}{{ b }} {% set c, e = d.z %}{{ c }}{{ e }}", "12 12")]
    [InlineData("{% set greeting %}Hi {{ name }}{% endset %}[{{ greeting }}]", "[Hi World]")]
    [InlineData("{% set messages = messages[1:] %}{{ messages[0].content }}", "U1")]
    [InlineData("{% if n < 5 %}a{% elif n < 10 %}b{% else %}c{% endif %}{% if n > 100 %}x{% elif n > 50 %}y{% endif %}", "b")]
    [InlineData("{% macro tag(name, cls='x') %}<{{ name }} {{ cls }}>{% endmacro %}{{ tag('a') }}{{ tag('b', cls='y') }}{{ tag(name='c') }}", "<a x><b y><c x>")]
    [InlineData("{% macro outer(v) %}[{{ inner(v) }}]{% endmacro %}{% macro inner(v) %}{{ v|upper }}{% endmacro %}{{ outer('q') }}", "[Q]")]
    [InlineData("{% macro show(v) %}{{ v }}{% endmacro %}{% for m in messages %}{{ show(m.role[0]) }}{% endfor %}", "suau")]
    [InlineData("{% generation %}G{{ name }}{% endgeneration %}", "GWorld")]
    public void AssignmentsBranchesAndMacros(string template, string expected) => Assert.Equal(expected, Render(template));

    [Theory]
    [InlineData("{{ text|trim }}|{{ '--x--'|trim('-') }}|{{ missing|trim }}|{{ none|trim }}|{{ 5|trim }}", "Hello, World|x||None|5")]
    [InlineData("{{ name|upper }} {{ name|lower }} {{ 'hello world-wide'|title }} {{ 'hELLO wORLD'|capitalize }}", "WORLD world Hello World-Wide Hello world")]
    [InlineData("{{ items|length }} {{ 'abc'|length }} {{ d|length }} {{ missing|length }} {{ items|count }}", "3 3 3 0 3")]
    [InlineData("{{ missing|default('dflt') }} {{ ''|default('e', true) }} {{ none|default('n') }} {{ missing|d('short') }}", "dflt e None short")]
    [InlineData("{{ items|join(', ') }} {{ nums|join }} {{ people|join('/', attribute='name') }}", "b, a, c 312 Ann/bob/Cy")]
    [InlineData("{{ items|first }} {{ items|last }} {{ 'abc'|first }} {{ empty|first is defined }}", "b c a False")]
    [InlineData("{{ items|sort }} {{ nums|sort(reverse=true) }} {{ people|sort(attribute='age')|map(attribute='name')|join(',') }} {{ ['b', 'A', 'a']|sort }}", "['a', 'b', 'c'] [3, 2, 1] bob,Ann,Cy ['A', 'a', 'b']")]
    [InlineData("{{ people|selectattr('admin')|map(attribute='name')|list }} {{ people|rejectattr('admin')|map(attribute='name')|list }}", "['Ann'] ['bob', 'Cy']")]
    [InlineData("{{ people|selectattr('age', 'gt', 30)|map(attribute='name')|join(',') }} {{ people|selectattr('admin', 'defined')|list|length }} {{ messages|selectattr('role', 'equalto', 'user')|list|length }}", "Ann,Cy 2 2")]
    [InlineData("{{ nums|select('odd')|list }} {{ nums|reject('odd')|list }} {{ [0, 1, '', 'x']|select|list }}", "[3, 1] [2] [1, 'x']")]
    [InlineData("{{ 'a-b-c'|replace('-', '+') }} {{ 'aaa'|replace('a', 'b', 2) }}", "a+b+c bba")]
    [InlineData("{{ '42'|int + 1 }} {{ 'x'|int }} {{ 3.9|int }} {{ '2.5'|float }} {{ 7|string ~ '!' }} {{ 'x'|int(5) }} {{ '0x1f'|int(0, 16) }}", "43 0 3 2.5 7! 5 31")]
    [InlineData("{{ d|items|list }} {{ d|dictsort(reverse=true)|first }}", "[('x', 1), ('y', 'two'), ('z', [1, 2])] ('z', [1, 2])")]
    [InlineData("{{ nums|reverse|list }} {{ 'abc'|reverse }} {{ [1, 2, 2, 3, 1]|unique|list }} {{ items|list }} {{ 'ab'|list }}", "[2, 1, 3] cba [1, 2, 3] ['b', 'a', 'c'] ['a', 'b']")]
    [InlineData("{{ nums|sum }} {{ nums|max }} {{ nums|min }} {{ people|sum(attribute='age') }} {{ (people|max(attribute='age')).name }} {{ d|attr('x') is defined }}", "6 3 1 96 Cy False")]
    [InlineData("{{ 2.675|round(2) }} {{ 2.5|round }} {{ 3.5|round }} {{ 3.14159|round(2, 'floor') }} {{ 3.14159|round(1, 'ceil') }} {{ 5|round }} {{ -3|abs }}", "2.67 2.0 4.0 3.14 3.2 5 3")]
    [InlineData("{{ 'a\nb\n\nc'|indent(2) }}|{{ 'a\nb'|indent(2, true) }}|{{ 'a\n\nb'|indent('> ', blank=true) }}", "a\n  b\n\n  c|  a\n  b|a\n> \n> b")]
    [InlineData("{{ 'x'|safe }} {{ messages|map(attribute='role')|map('upper')|join(',') }} {{ people|map(attribute='admin', default='?')|list }}", "x SYSTEM,USER,ASSISTANT,USER [True, False, '?']")]
    public void Filters(string template, string expected) => Assert.Equal(expected, Render(template));

    [Theory]
    [InlineData("{{ d|tojson }}", "{\"x\": 1, \"y\": \"two\", \"z\": [1, 2]}")]
    [InlineData("{{ {'b': 1, 'a': [1, {}, []]}|tojson(indent=2) }}", "{\n  \"b\": 1,\n  \"a\": [\n    1,\n    {},\n    []\n  ]\n}")]
    [InlineData("{{ 'é\"\\\\\n\t\u0001'|tojson }}", "\"é\\\"\\\\\\n\\t\\u0001\"")]
    [InlineData("{{ 'é😀'|tojson(ensure_ascii=true) }}", "\"\\u00e9\\ud83d\\ude00\"")]
    [InlineData("{{ {'b': 1, 'a': 2}|tojson(sort_keys=true) }} {{ [1, 2]|tojson(separators=(',', ':')) }}", "{\"a\": 2, \"b\": 1} [1,2]")]
    [InlineData("{{ 1.0|tojson }} {{ 1e20|tojson }} {{ 0.1|tojson }} {{ none|tojson }} {{ t|tojson }} {{ (1, 'a')|tojson }}", "1.0 1e+20 0.1 null true [1, \"a\"]")]
    [InlineData("{{ [1, [2]]|tojson(indent=0) }}", "[\n1,\n[\n2\n]\n]")]
    public void ToJsonIsPythonJsonDumps(string template, string expected) => Assert.Equal(expected, Render(template));

    [Theory]
    [InlineData("{{ missing is defined }} {{ name is defined }} {{ none is none }} {{ zero is none }} {{ name is string }} {{ n is string }} {{ missing is undefined }}", "False True True False True False True")]
    [InlineData("{{ d is mapping }} {{ items is mapping }} {{ items is iterable }} {{ name is iterable }} {{ n is iterable }} {{ items is sequence }} {{ d is iterable }}", "True False True True False True True")]
    [InlineData("{{ n is number }} {{ f is number }} {{ name is number }} {{ t is boolean }} {{ n is integer }} {{ f is float }} {{ t is integer }}", "True True False True True True False")]
    [InlineData("{{ n is odd }} {{ n is even }} {{ 9 is divisibleby 3 }} {{ n is not none }} {{ name is not string }} {{ n is divisibleby(2) }}", "True False True True False False")]
    [InlineData("{{ t is true }} {{ zero is false }} {{ n is eq 7 }} {{ n is gt(5) }} {{ 'b' is in items }} {{ n is ne 7 }} {{ none is sameas none }}", "True False True True True False True")]
    [InlineData("{{ 'abc' is lower }} {{ 'ABC' is upper }} {{ 'aBc' is lower }} {{ raise_exception is callable }}", "True True False True")]
    public void Tests(string template, string expected) => Assert.Equal(expected, Render(template));

    [Theory]
    [InlineData("{{ text.strip() }}|{{ text.lstrip() }}|{{ text.rstrip() }}|", "Hello, World|Hello, World  |  Hello, World|")]
    [InlineData("[{{ '\n x \n'.strip('\n') }}] [{{ '\n\n x'.lstrip('\n') }}] [{{ 'x \n\n'.rstrip('\n') }}] [{{ 'xyhix'.strip('xy') }}]", "[ x ] [ x] [x ] [hi]")]
    [InlineData("{{ s.split(',') }} {{ ' a b  c '.split() }} {{ s.split(',', 1) }} {{ 'a b c'.rsplit(' ', 1) }} {{ 'l1\nl2\r\nl3\n'.splitlines() }}", "['a', 'b', '', 'c'] ['a', 'b', 'c'] ['a', 'b,,c'] ['a b', 'c'] ['l1', 'l2', 'l3']")]
    [InlineData("{{ name.startswith('Wo') }} {{ name.endswith(('x', 'ld')) }} {{ name.startswith('wo') }}", "True True False")]
    [InlineData("{{ \"they're bill's friends\".title() }} {{ 'hello'.capitalize() }} {{ 'Hi'.upper() }}{{ 'Hi'.lower() }}", "They'Re Bill'S Friends Hello HIhi")]
    [InlineData("{{ 'a-b'.replace('-', '+') }} {{ 'banana'.find('an') }} {{ 'banana'.rfind('an') }} {{ 'banana'.count('a') }} {{ '-'.join(items) }} {{ 'x'.find('q') }}", "a+b 1 3 3 b-a-c -1")]
    [InlineData("{{ 'x</think>y'.split('</think>')[-1] }} {{ '<think>r</think>'.split('</think>')[0].split('<think>')[-1] }}", "y r")]
    [InlineData("{{ '12'.isdigit() }} {{ 'ab'.isalpha() }} {{ ' '.isspace() }} {{ 'AB'.isupper() }} {{ 'ab'.islower() }} {{ 'a1'.isalnum() }}", "True True True True True True")]
    [InlineData("{{ d.get('x') }} {{ d.get('q') }} {{ d.get('q', 'dflt') }} {{ d.keys()|list }} {{ d.values()|list|length }} {{ d.items()|first }}", "1 None dflt ['x', 'y', 'z'] 3 ('x', 1)")]
    [InlineData("{{ range(3)|list }} {{ range(1, 7, 2)|list }} {{ range(3, 0, -1)|list }} {{ dict(a=1)['a'] }} {{ namespace(v=5).v }}", "[0, 1, 2] [1, 3, 5] [3, 2, 1] 1 5")]
    public void MethodsAndGlobals(string template, string expected) => Assert.Equal(expected, Render(template));
}
