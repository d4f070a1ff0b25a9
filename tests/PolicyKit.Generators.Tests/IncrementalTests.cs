using System.Collections;
using System.Reflection;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;

namespace PolicyKit.Generators.Tests;

/// <summary>
/// The pipeline must cache: rerunning on an unchanged (cloned) compilation, or after an edit that does not touch
/// a policy, may not re-parse or re-emit anything. Equatable models are what make that work.
/// </summary>
public class IncrementalTests
{
    private const string Policies = """
        using PolicyKit;
        namespace Sample;
        [CachePolicy("dllm-cache")] [PromptRefresh(Every = 100)] [ResponseRefresh(Every = 7)] [AdaptiveResponse(Ratio = 0.25)] [AlwaysRefreshLayers(0)]
        public partial class DllmCache;
        [CachePolicy("hybrid")] [ResponseRefresh(Every = 4, Layers = "0..8")] [AdaptiveResponse(Threshold = 0.9, Layers = "8..")]
        public partial class Hybrid;
        [PromptRefresh(Every = 3)] public partial class Orphan;
        """;

    private static readonly string[] TrackedSteps =
    {
        PolicyGenerator.Steps.Declarations, PolicyGenerator.Steps.Models, PolicyGenerator.Steps.Names,
        PolicyGenerator.Steps.Facts, PolicyGenerator.Steps.Registry, PolicyGenerator.Steps.RulesWithoutPolicy,
    };

    [Fact]
    public void SecondRunOnClonedCompilationIsFullyCached()
    {
        var compilation = GeneratorHarness.CreateCompilation(Policies, withDependencyInjection: true);
        var driver = GeneratorHarness.CreateDriver(trackSteps: true).RunGenerators(compilation);
        var first = driver.GetRunResult().Results.Single();
        Assert.Equal(4, first.GeneratedSources.Length);
        Assert.All(TrackedSteps, step => Assert.Contains(step, first.TrackedSteps.Keys));
        AssertNoCompilerObjects(first);

        var second = driver.RunGenerators(compilation.Clone()).GetRunResult().Results.Single();

        foreach (var step in TrackedSteps)
        {
            var outputs = second.TrackedSteps[step].SelectMany(s => s.Outputs).ToList();
            Assert.NotEmpty(outputs);
            Assert.All(outputs, output => Assert.True(
                output.Reason is IncrementalStepRunReason.Cached or IncrementalStepRunReason.Unchanged,
                $"{step}: {output.Reason}"));
        }
        Assert.All(second.TrackedOutputSteps.SelectMany(s => s.Value).SelectMany(s => s.Outputs),
            output => Assert.Equal(IncrementalStepRunReason.Cached, output.Reason));
    }

    [Fact]
    public void UnrelatedEditDoesNotReEmitPolicies()
    {
        var compilation = GeneratorHarness.CreateCompilation(Policies);
        var driver = GeneratorHarness.CreateDriver(trackSteps: true).RunGenerators(compilation);

        var edited = compilation.AddSyntaxTrees(CSharpSyntaxTree.ParseText("public class Unrelated { }", GeneratorHarness.ParseOptions, path: "Unrelated.cs"));
        var result = driver.RunGenerators(edited).GetRunResult().Results.Single();

        Assert.All(result.TrackedSteps[PolicyGenerator.Steps.Models].SelectMany(s => s.Outputs),
            output => Assert.True(output.Reason is IncrementalStepRunReason.Cached or IncrementalStepRunReason.Unchanged, output.Reason.ToString()));
        Assert.All(result.TrackedOutputSteps.SelectMany(s => s.Value).SelectMany(s => s.Outputs),
            output => Assert.Equal(IncrementalStepRunReason.Cached, output.Reason));
    }

    [Fact]
    public void ChangingOnePolicyReEmitsOnlyThatPolicy()
    {
        var compilation = GeneratorHarness.CreateCompilation(Policies);
        var driver = GeneratorHarness.CreateDriver(trackSteps: true).RunGenerators(compilation);
        var tree = compilation.SyntaxTrees.Single();
        var changed = compilation.ReplaceSyntaxTree(tree, tree.WithChangedText(
            Microsoft.CodeAnalysis.Text.SourceText.From(Policies.Replace("Every = 4,", "Every = 5,"))));

        var result = driver.RunGenerators(changed).GetRunResult().Results.Single();
        var reasons = result.TrackedSteps[PolicyGenerator.Steps.Models].SelectMany(s => s.Outputs).Select(o => o.Reason).ToList();
        Assert.Contains(IncrementalStepRunReason.Modified, reasons);
        Assert.Contains(reasons, r => r is IncrementalStepRunReason.Cached or IncrementalStepRunReason.Unchanged);
    }

    /// <summary>Symbols, syntax or compilations in a step output would pin old compilations in memory and defeat caching.</summary>
    private static void AssertNoCompilerObjects(GeneratorRunResult result)
    {
        foreach (var (step, runs) in result.TrackedSteps.Where(s => TrackedSteps.Contains(s.Key)))
        {
            foreach (var output in runs.SelectMany(r => r.Outputs))
                Visit(output.Value, step, new HashSet<object>(ReferenceEqualityComparer.Instance));
        }
    }

    private static void Visit(object? value, string step, HashSet<object> seen)
    {
        if (value is null || value is string || value.GetType().IsPrimitive || value.GetType().IsEnum || !seen.Add(value))
            return;
        Assert.False(value is Compilation or ISymbol or SyntaxNode or SemanticModel or Location,
            $"Step {step} outputs a {value.GetType().Name}");
        if (value is IEnumerable items)
        {
            foreach (var item in items)
                Visit(item, step, seen);
            return;
        }
        foreach (var field in value.GetType().GetFields(BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic))
            Visit(field.GetValue(value), step, seen);
    }
}
