namespace PolicyKit.Templating.Tests;

/// <summary>What is outside the subset fails at Parse, naming the construct and its position; runtime errors name theirs.</summary>
public class ErrorTests
{
    private static ChatTemplateException ParseError(string template) =>
        Assert.Throws<ChatTemplateException>(() => ChatTemplate.Parse(template));

    private static ChatTemplateException RenderError(string template) =>
        Assert.Throws<ChatTemplateException>(() => ChatTemplate.Parse(template).Render(ConstructTests.Context));

    [Theory]
    [InlineData("{% include 'other.jinja' %}", "the 'include' tag is not supported")]
    [InlineData("{% extends 'base' %}", "the 'extends' tag is not supported")]
    [InlineData("{% call m() %}x{% endcall %}", "the 'call' tag is not supported")]
    [InlineData("{% filter upper %}x{% endfilter %}", "the 'filter' tag is not supported")]
    [InlineData("{% raw %}{{ x }}{% endraw %}", "the 'raw' tag is not supported")]
    [InlineData("{% frobnicate %}", "unknown tag 'frobnicate'")]
    [InlineData("{{ x|frobnicate }}", "unknown filter 'frobnicate'")]
    [InlineData("{{ '%s'|format(x) }}", "the filter 'format' is not supported")]
    [InlineData("{{ x is frobnicated }}", "unknown test 'frobnicated'")]
    [InlineData("{{ x is escaped }}", "the test 'escaped' is not supported")]
    [InlineData("{{ '{}'.format(x) }}", "the method 'format()' is not supported")]
    [InlineData("{{ items.append(1) }}", "the method 'append()' is not supported")]
    [InlineData("{{ cycler('a', 'b') }}", "the function 'cycler()' is not supported")]
    [InlineData("{{ frob(1) }}", "unknown function 'frob()'")]
    [InlineData("{% for x in items recursive %}{% endfor %}", "recursive for loops are not supported")]
    [InlineData("{% macro m(*args) %}{% endmacro %}", "*args and **kwargs in macros are not supported")]
    [InlineData("{{ range(*items) }}", "argument unpacking (*args, **kwargs) is not supported")]
    [InlineData("{% set x | upper %}a{% endset %}", "filters on a block set")]
    [InlineData("{% break %}", "'break' outside of a for loop")]
    [InlineData("{% if x %}never closed", "unexpected end of template: expected 'elif' or 'else' or 'endif'")]
    [InlineData("{% for x in y %}{% endif %}", "unexpected 'endif': expected 'else' or 'endfor'")]
    [InlineData("{% endfor %}", "unexpected 'endfor': there is no open block for it")]
    [InlineData("{{ 1 + }}", "unexpected end of the tag: an expression is missing")]
    [InlineData("{{ }}", "empty expression")]
    [InlineData("{{ x y }}", "expected '}}', found 'y'")]
    [InlineData("{% if x y %}{% endif %}", "expected '%}', found 'y'")]
    [InlineData("{{ 'unterminated }}", "unterminated string literal")]
    [InlineData("{# never closed", "unclosed comment")]
    [InlineData("{{ x ", "unclosed expression")]
    [InlineData("{% if x ", "unclosed tag")]
    [InlineData("{{ x ? y }}", "unexpected character '?'")]
    [InlineData("{% set ns.a.b = 1 %}", "only one level of attribute assignment")]
    public void UnsupportedOrInvalidConstructsFailAtParse(string template, string expected)
    {
        var error = ParseError(template);
        Assert.Contains(expected, error.Message);
        Assert.True(error.Line >= 1 || expected.StartsWith("unexpected end of template"), $"no position in: {error.Message}");
    }

    [Fact]
    public void ParseErrorsNameTheLineAndColumn()
    {
        var error = ParseError("first line\n  {{ messages | nope }}");
        Assert.Equal(2, error.Line);
        Assert.Equal(17, error.Column);
        Assert.Equal("unknown filter 'nope' (line 2, column 17)", error.Message);
        Assert.Equal("unknown filter 'nope'", error.Reason);
    }

    [Fact]
    public void RaiseExceptionCarriesTheTemplatesOwnMessage()
    {
        var error = RenderError("ok\n{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}");
        Assert.True(error.RaisedByTemplate);
        Assert.Equal("Conversation roles must alternate user/assistant/user/assistant/...", error.Reason);
        Assert.Equal(2, error.Line);
    }

    [Theory]
    [InlineData("{{ missing.attr }}", "'missing' is undefined")]
    [InlineData("{{ d.missing.attr }}", "'dict object' has no attribute 'missing'")]
    [InlineData("{{ missing + 1 }}", "'missing' is undefined")]
    [InlineData("{{ d['missing']() }}", "'dict object' has no attribute 'missing'")]
    [InlineData("{{ 'a' + 1 }}", "unsupported operand type(s) for +: 'str' and 'int'")]
    [InlineData("{{ 1 // 0 }}", "integer division or modulo by zero")]
    [InlineData("{{ 'x' < 1 }}", "'<' not supported between instances of 'str' and 'int'")]
    [InlineData("{{ '%s' % name }}", "printf-style string formatting")]
    [InlineData("{{ 1 in 'abc' }}", "'in <string>' requires string as left operand")]
    [InlineData("{{ 1 in n }}", "argument of type 'int' is not iterable")]
    [InlineData("{% for x in n %}{% endfor %}", "'int' object is not iterable")]
    [InlineData("{% set a, b = items %}", "too many values to unpack (expected 2)")]
    [InlineData("{% set d.x = 1 %}", "only namespace() objects take attribute assignments")]
    [InlineData("{{ items[0]() }}", "'str' object is not callable")]
    [InlineData("{{ missing|tojson }}", "'missing' is undefined")]
    [InlineData("{{ namespace(a=1)|tojson }}", "Object of type Namespace is not JSON serializable")]
    [InlineData("{{ name.split('') }}", "empty separator")]
    [InlineData("{{ range(1000000)|length }}", "range too big")]
    [InlineData("{% macro m(a) %}{% endmacro %}{{ m(1, 2) }}", "macro 'm' takes 1 argument(s), got 2")]
    [InlineData("{% macro m(a) %}{% endmacro %}{{ m(b=2) }}", "macro 'm' has no parameter named 'b'")]
    [InlineData("{{ items|join(1, 2, 3) }}", "join takes at most 2 argument(s), got 3")]
    [InlineData("{{ name.startswith(1) }}", "argument must be str or a tuple of str, not int")]
    public void RuntimeErrorsSayWhatWentWrong(string template, string expected)
    {
        var error = RenderError(template);
        Assert.Contains(expected, error.Message);
        Assert.False(error.RaisedByTemplate);
        Assert.Equal(1, error.Line);
    }

    [Fact]
    public void HostileTemplatesFailInsteadOfOverflowingTheStack()
    {
        Assert.Contains("nested deeper than 100 levels", ParseError("{{ " + new string('(', 5000) + "1" + new string(')', 5000) + " }}").Message);
        Assert.Contains("nested deeper than 100 levels", ParseError("{{ " + string.Concat(Enumerable.Repeat("not ", 5000)) + "1 }}").Message);
        Assert.Contains("nested deeper than 100 levels", ParseError("{{ " + new string('-', 5000) + "1 }}").Message);
        Assert.Contains("blocks nested deeper than 100 levels",
            ParseError(string.Concat(Enumerable.Repeat("{% if t %}", 5000)) + string.Concat(Enumerable.Repeat("{% endif %}", 5000))).Message);
        var cycle = new List<object?>();
        cycle.Add(cycle);
        Assert.Contains("nested deeper than 128 levels",
            Assert.Throws<ChatTemplateException>(() => ChatTemplate.Parse("{{ c }}").Render(new Dictionary<string, object?> { ["c"] = cycle })).Message);
        Assert.Contains("macro 'loop_forever' recursed deeper than 200 calls",
            RenderError("{% macro loop_forever(n) %}{{ loop_forever(n + 1) }}{% endmacro %}{{ loop_forever(0) }}").Message);
    }

    [Fact]
    public void ContextValuesOfUnsupportedTypesAreNamedByPath()
    {
        var template = ChatTemplate.Parse("{{ messages }}");
        var error = Assert.Throws<ChatTemplateException>(() => template.Render(new Dictionary<string, object?>
        {
            ["messages"] = new object[] { new Dictionary<string, object?> { ["content"] = new Uri("https://example.org") } },
        }));
        Assert.Contains("context value messages[0][\"content\"] has type System.Uri", error.Message);
    }
}
