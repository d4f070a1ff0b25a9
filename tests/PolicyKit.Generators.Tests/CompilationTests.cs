using Microsoft.CodeAnalysis;

namespace PolicyKit.Generators.Tests;

public class CompilationTests
{
    [Fact]
    public void ComparesInputIsTrueWhenAnotherPartOfTheClassImplementsAdjustPlan()
    {
        var compilation = GeneratorHarness.CreateCompilation(new[]
        {
            """
            using PolicyKit;
            namespace Sample;
            [CachePolicy("adjusted")]
            [ResponseRefresh(Every = 4)]
            [AdaptiveResponse(Ratio = 0.25, Probe = Probe.Value)]
            public sealed partial class Adjusted;
            [CachePolicy("declared")]
            [ResponseRefresh(Every = 4)]
            [AdaptiveResponse(Ratio = 0.25, Probe = Probe.Value)]
            public sealed partial class Declared;
            """,
            """
            using PolicyKit;
            namespace Sample;
            public sealed partial class Adjusted
            {
                partial void AdjustPlan(in StepContext context, ref LayerPlan plan) { }
            }
            """,
        });

        var (sources, diagnostics, _) = GeneratorHarness.Run(compilation);

        Assert.Empty(diagnostics);
        // The generator cannot see what AdjustPlan returns, so it may ask for any probe.
        Assert.Contains("public bool ComparesInput => true;", sources["Sample.Adjusted.CachePolicy.g.cs"]);
        Assert.Contains("public bool ComparesInput => _adaptiveResponse.Probe == global::PolicyKit.Probe.Input;", sources["Sample.Declared.CachePolicy.g.cs"]);
    }

    [Fact]
    public void GeneratedCodeCompilesWithoutWarnings()
    {
        var compilation = GeneratorHarness.CreateCompilation(new[]
        {
            """
            using PolicyKit;
            namespace Sample;

            /// <summary>Every rule kind at once, ranges from both ends.</summary>
            [CachePolicy("everything", Description = "all rules \"quoted\" & <escaped>")]
            [PromptRefresh(Every = 50, Layers = "..^2")]
            [PromptRefresh(Every = 10, Layers = "^2..")]
            [ResponseRefresh(Every = 4, Layers = "0..8")]
            [AdaptiveResponse(Ratio = 0.1, Layers = "8..^4")]
            [AdaptiveResponse(Threshold = -0.5, Probe = Probe.Input, Layers = "^4..")]
            [RefreshActiveBlock(IncludeSuffix = true, Layers = "0..2")]
            [RefreshActiveBlock(Layers = "2..4")]
            [RefreshAllOnBlockStart]
            [AlwaysRefreshLayers(0, 31)]
            public sealed partial class Everything
            {
                // A hand-written adjustment: recompute the prompt at the last layer.
                partial void AdjustPlan(in StepContext context, ref LayerPlan plan)
                {
                    if (context.Layer == context.LayerCount - 1)
                        plan = plan with { Prompt = SegmentAction.Refresh };
                }
            }
            """,
            """
            using PolicyKit;
            [CachePolicy("plain")] public partial class Plain;
            [CachePolicy("off", UsesCache = false)] internal partial class Off;
            """,
        }, withDependencyInjection: true);

        var (sources, diagnostics, output) = GeneratorHarness.Run(compilation);

        Assert.Empty(diagnostics);
        Assert.Equal(5, sources.Count); // three policies, the registry, the DI helper
        var problems = output.GetDiagnostics().Where(d => d.Severity >= DiagnosticSeverity.Warning).ToList();
        Assert.True(problems.Count == 0, string.Join("\n", problems));
    }

    [Fact]
    public void RegistriesOfTwoAssembliesDoNotClash()
    {
        var first = GeneratorHarness.Run(GeneratorHarness.CreateCompilation("""
            using PolicyKit;
            [CachePolicy("a")] public partial class A;
            """, assemblyName: "First.Policies")).Output;
        using var stream = new MemoryStream();
        Assert.True(first.Emit(stream).Success);

        var second = GeneratorHarness.CreateCompilation("""
            using PolicyKit;
            [CachePolicy("b")] public partial class B;
            public static class Uses
            {
                public static int Count => PolicyKit.Generated.FirstPoliciesPolicyRegistry.All.Count + PolicyKit.Generated.SecondPolicyRegistry.All.Count;
            }
            """, assemblyName: "second")
            .AddReferences(MetadataReference.CreateFromImage(stream.ToArray()));
        var (_, diagnostics, output) = GeneratorHarness.Run(second);
        Assert.Empty(diagnostics);
        Assert.Empty(output.GetDiagnostics().Where(d => d.Severity >= DiagnosticSeverity.Warning));
    }
}
