using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;

namespace PolicyKit.Templating.Tests;

/// <summary>Properties that hold for any input, checked on random strings.</summary>
public class TemplateProperties
{
    private static readonly ChatTemplate PolicyKitRef = ChatTemplate.Parse(File.ReadAllText(TestData.TemplatePath("policykit-ref.jinja")));

    private static readonly Arbitrary<string> Text = ArbMap.Default.ArbFor<string>().Filter(s => s is not null);

    [Property(MaxTest = 300)]
    public Property ThePolicyKitRefTemplateJoinsTheContentsWithNewlinesAndAddsNothing() =>
        Prop.ForAll(Arb.From(Gen.NonEmptyListOf(Text.Generator)), contents =>
        {
            var messages = contents.Select((c, i) => (IReadOnlyDictionary<string, object?>)new Dictionary<string, object?>
            {
                ["role"] = i == 0 ? "system" : "user",
                ["content"] = c,
            }).ToList();
            return PolicyKitRef.Render(messages, addGenerationPrompt: true) == string.Join("\n", contents);
        });

    [Property(MaxTest = 300)]
    public Property TextWithoutTagsRendersVerbatimButForOneTrailingNewline() =>
        Prop.ForAll(Text.Filter(s => !s.Contains('{') && !s.Contains('\r')), text =>
            ChatTemplate.Parse(text).Render(new Dictionary<string, object?>()) == (text.EndsWith('\n') ? text[..^1] : text));

    [Property(MaxTest = 300)]
    public Property AnyStringSurvivesAnExpressionAndTojsonRoundTrips() =>
        Prop.ForAll(Text, text =>
        {
            var template = ChatTemplate.Parse("{{ value }}|{{ value|tojson }}");
            var output = template.Render(new Dictionary<string, object?> { ["value"] = text });
            int bar = text.Length;
            return output[..bar] == text && output[bar] == '|' && System.Text.Json.JsonSerializer.Deserialize<string>(output[(bar + 1)..]) == text;
        });
}
