using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using MyApp.Policies;
using PolicyKit;
using PolicyKit.Generated;
using PolicyKit.Generators;
using PolicyKit.Testing;

namespace PolicyKit.UserPolicies.Tests;

public class UserPolicyTests
{
    private static StepContext Context(int layer, int responseLength, int since) => new()
    {
        Step = 20, Layer = layer, LayerCount = 12, BlockIndex = 1, BlockCount = 4, StepInBlock = 3,
        PromptLength = 100, ResponseLength = responseLength, ActiveBlockStart = responseLength / 4, ActiveBlockLength = responseLength / 4,
        StepsSincePromptRefresh = since, StepsSinceResponsePrefixRefresh = since, StepsSinceActiveBlockRefresh = since, StepsSinceResponseSuffixRefresh = since,
    };

    [Fact]
    public void TheDeclaredPolicyPlansByItsRules()
    {
        ICachePolicy policy = new MySlidingPolicy();

        Assert.Equal("my-sliding", policy.Name);
        Assert.True(policy.UsesCache);
        Assert.Equal(LayerPlan.Split(SegmentAction.Reuse, SegmentAction.Reuse), policy.Plan(Context(layer: 3, responseLength: 256, since: 5)));
        Assert.Equal(LayerPlan.Split(SegmentAction.Reuse, SegmentAction.Refresh), policy.Plan(Context(layer: 3, responseLength: 256, since: 6)));
        Assert.Equal(LayerPlan.Split(SegmentAction.Reuse, SegmentAction.AdaptiveThreshold(0.95, Probe.Key)),
            policy.Plan(Context(layer: 8, responseLength: 256, since: 6))); // "^4.." of 12 layers starts at 8
        Assert.True(policy.Plan(Context(layer: 3, responseLength: 256, since: 1) with { StepInBlock = 0 }).IsRefreshAll);
    }

    [Fact]
    public void HandWrittenAdjustmentApplies() =>
        Assert.Equal(LayerPlan.Split(SegmentAction.Reuse, SegmentAction.Refresh),
            new MySlidingPolicy().Plan(Context(layer: 10, responseLength: 32, since: 2)));

    [Fact]
    public void TheUserPolicyKeepsEveryInvariant() => PolicyInvariants.Check(new MySlidingPolicy());

    [Fact]
    public void BuiltInAndOwnPoliciesAreEnumeratedTogether()
    {
        var catalog = PolicyCatalog.FromRegistries(PolicyKitPoliciesPolicyRegistry.Instance, PolicyKitUserPoliciesTestsPolicyRegistry.Instance);

        Assert.Contains("dllm-cache", catalog.Names);
        Assert.Contains("my-sliding", catalog.Names);
        var tuned = catalog.Create("my-sliding", new Dictionary<string, string> { ["ResponseRefresh[..^4].Every"] = "2" });
        Assert.Equal(SegmentAction.Refresh, tuned.Plan(Context(layer: 3, responseLength: 256, since: 2)).ActiveBlock);
        Assert.Contains(catalog.Get("my-sliding").Parameters, p => p.Name == "AdaptiveResponse[^4..].Threshold" && p.Value == "0.95");
    }

    [Fact]
    public void AnInvalidDeclarationFailsTheBuildWithItsId()
    {
        const string source = """
            using PolicyKit;
            namespace MyApp.Policies;

            [CachePolicy("too-greedy")]
            [ResponseRefresh(Every = 4)]
            [AdaptiveResponse(Ratio = 1.25)]
            public sealed partial class TooGreedy;
            """;
        var references = ((string)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES")!).Split(Path.PathSeparator)
            .Where(path => Path.GetFileName(path).StartsWith("System.", StringComparison.Ordinal))
            .Append(typeof(ICachePolicy).Assembly.Location)
            .Select(path => MetadataReference.CreateFromFile(path));
        var compilation = CSharpCompilation.Create("MyApp", [CSharpSyntaxTree.ParseText(source, path: "TooGreedy.cs")], references,
            new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary));

        CSharpGeneratorDriver.Create(new PolicyGenerator()).RunGeneratorsAndUpdateCompilation(compilation, out _, out var diagnostics);

        var error = Assert.Single(diagnostics);
        Assert.Equal("PK0003", error.Id);
        Assert.Equal(DiagnosticSeverity.Error, error.Severity);
        Assert.Equal("TooGreedy.cs(6,19)", $"{error.Location.GetLineSpan().Path}({error.Location.GetLineSpan().StartLinePosition.Line + 1},{error.Location.GetLineSpan().StartLinePosition.Character + 1})");
        Assert.Contains("Ratio = 1.25", error.GetMessage());
    }
}

public class SecondWaveUserPolicyTests
{
    [Fact]
    public void TheWindowedPolicyKeepsEveryInvariant() => PolicyInvariants.Check(new MyWindowedPolicy());

    [Fact]
    public void TheWindowedPolicyPlansByItsRules()
    {
        var context = new StepContext
        {
            Step = 13, Layer = 2, LayerCount = 12, BlockIndex = 1, BlockCount = 4, StepInBlock = 3, PromptLength = 100,
            ResponseLength = 128, ActiveBlockStart = 32, ActiveBlockLength = 32,
            StepsSincePromptRefresh = 3, StepsSinceResponsePrefixRefresh = 3, StepsSinceActiveBlockRefresh = 3, StepsSinceResponseSuffixRefresh = 3,
        };
        var plan = new MyWindowedPolicy().Plan(in context);
        Assert.Equal(SegmentAction.Reuse, plan.Prompt);
        Assert.Equal(SegmentAction.Drop, plan.ActionOfResponseRow(Segment.ResponseSuffix, 9, RowStates.Masked));
        Assert.Equal(SegmentAction.Refresh, plan.ActionOfResponseRow(Segment.ResponseSuffix, 8, RowStates.Masked));
        Assert.Equal(SegmentAction.Refresh, plan.ActionOfResponseRow(Segment.ResponsePrefix, 20, RowStates.JustDecoded));
        Assert.Equal(SegmentAction.Reuse, plan.ActionOfResponseRow(Segment.ResponsePrefix, 20, RowStates.Settled));
        Assert.Equal(SegmentAction.Reuse, plan.ActionOfResponseRow(Segment.ActiveBlock, 0, RowStates.Masked));
        Assert.True((new MyWindowedPolicy().Plan(context with { Step = 20 }) with { FarSuffix = null }).IsRefreshAll);  // Every = 10
    }

    [Fact]
    public void The_invariants_catch_a_policy_that_drops_the_active_block()
    {
        var context = new StepContext { Step = 3, Layer = 0, LayerCount = 4, PromptLength = 10, ResponseLength = 16, ActiveBlockLength = 8,
            StepsSincePromptRefresh = 1, StepsSinceResponsePrefixRefresh = 1, StepsSinceActiveBlockRefresh = 1, StepsSinceResponseSuffixRefresh = 1 };
        var violation = PolicyInvariants.DropsOnlyTheFarSuffix.FindViolation(new DropsTheActiveBlock(), context);
        Assert.NotNull(violation);
        Assert.Contains("ActiveBlock is dropped", violation, StringComparison.Ordinal);
    }
}

public class RankedUserPolicyTests
{
    [Fact]
    public void TheRankedPolicyKeepsEveryInvariant() => PolicyInvariants.Check(new MyRankedPolicy());

    [Fact]
    public void TheRankedPolicyPlansByItsRules()
    {
        var context = new StepContext
        {
            Step = 5, Layer = 3, LayerCount = 6, BlockIndex = 1, BlockCount = 4, StepInBlock = 2, PromptLength = 40,
            ResponseLength = 64, ActiveBlockStart = 16, ActiveBlockLength = 16,
            StepsSincePromptRefresh = 5, StepsSinceResponsePrefixRefresh = 5, StepsSinceActiveBlockRefresh = 1, StepsSinceResponseSuffixRefresh = 5,
        };
        var policy = new MyRankedPolicy();
        var plan = policy.Plan(in context);
        Assert.Equal(SegmentAction.AdaptiveRatio(0.33, Probe.Confidence), plan.ActionOfResponseRow(Segment.ActiveBlock, 0, RowStates.Masked));
        Assert.Equal(SegmentAction.Refresh, plan.ActionOfResponseRow(Segment.ActiveBlock, 0, RowStates.Settled));
        Assert.Equal(new DriftTest(0.95, Probe.Input), plan.Trigger);
        Assert.Null(policy.Plan(context with { Layer = 1 }).Trigger);                            // Layers = "2.."
        Assert.True(policy.Plan(context with { TriggeredAtLayer = 2 }).IsRefreshAll);           // a fired test refreshes the later layers
        Assert.Contains(policy.Parameters, p => p.Name == "DriftTrigger[2..].Threshold" && p.Value == "0.95" && p.CanOverride);
    }

    [Fact]
    public void The_invariants_catch_a_drift_test_out_of_range()
    {
        var violation = PolicyInvariants.FindViolation(new ImpossibleDriftTest(), new StepContext { Step = 2, Layer = 1, LayerCount = 4, PromptLength = 8,
            ResponseLength = 8, ActiveBlockLength = 8, StepsSincePromptRefresh = 1, StepsSinceResponsePrefixRefresh = 1, StepsSinceActiveBlockRefresh = 1, StepsSinceResponseSuffixRefresh = 1 });
        Assert.NotNull(violation);
        Assert.Contains("drift test", violation, StringComparison.Ordinal);
    }
}
