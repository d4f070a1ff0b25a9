using Microsoft.CodeAnalysis;
using PolicyKit.Generators.Diagnostics;

namespace PolicyKit.Generators.Tests;

/// <summary>
/// Every diagnostic ID, each triggered by a declaration whose expected location is marked with <c>[| |]</c>:
/// the test checks the ID, the exact span (file, line and column) and that the message is fully formatted.
/// </summary>
public class DiagnosticTests
{
    public static TheoryData<string, string> Cases => new()
    {
        { "PK0001", """[[|CachePolicy("p")|]] public class P;""" },
        { "PK0001", """public partial class Outer { [[|CachePolicy("p")|]] public partial class P; }""" },
        { "PK0001", """[[|CachePolicy("p")|]] public partial class P<T>;""" },
        { "PK0001", """[[|CachePolicy("p")|]] public abstract partial class P;""" },
        { "PK0002", """[CachePolicy("p")] [PromptRefresh([|Every = 0|])] public partial class P;""" },
        { "PK0002", """[CachePolicy("p")] [[|ResponseRefresh|]] public partial class P;""" },
        { "PK0003", """[CachePolicy("p")] [AdaptiveResponse([|Ratio = 1.5|])] public partial class P;""" },
        { "PK0003", """[CachePolicy("p")] [AdaptiveResponse([|Ratio = 0|])] public partial class P;""" },
        { "PK0004", """[CachePolicy("p")] [AdaptiveResponse([|Threshold = -2|])] public partial class P;""" },
        { "PK0005", """[CachePolicy("p")] [[|AdaptiveResponse(Ratio = 0.2, Threshold = 0.5)|]] public partial class P;""" },
        { "PK0005", """[CachePolicy("p")] [[|AdaptiveResponse(Probe = Probe.Key)|]] public partial class P;""" },
        { "PK0006", """[CachePolicy("p")] [ResponseRefresh(Every = 2, [|Layers = "0-8"|])] public partial class P;""" },
        { "PK0006", """[CachePolicy("p")] [PromptRefresh(Every = 2, [|Layers = ""|])] public partial class P;""" },
        { "PK0006", """[CachePolicy("p")] [AlwaysRefreshLayers(0, [|-1|])] public partial class P;""" },
        { "PK0007", """[CachePolicy("p")] [ResponseRefresh(Every = 2, [|Layers = "8..2"|])] public partial class P;""" },
        { "PK0007", """[CachePolicy("p")] [RefreshActiveBlock([|Layers = "^2..^4"|])] public partial class P;""" },
        { "PK0008", """[CachePolicy("p")] [ResponseRefresh(Every = 2, Layers = "0..8")] [ResponseRefresh(Every = 3, [|Layers = "4.."|])] public partial class P;""" },
        { "PK0008", """[CachePolicy("p")] [AdaptiveResponse(Ratio = 0.2, Layers = "0..8")] [AdaptiveResponse(Ratio = 0.3, [|Layers = "^4.."|])] public partial class P;""" },
        { "PK0009", """[CachePolicy("p", UsesCache = false)] [[|PromptRefresh(Every = 3)|]] public partial class P;""" },
        { "PK0009", """[CachePolicy("p")] [AlwaysRefreshLayers(0, 1)] [ResponseRefresh(Every = 2, [|Layers = "0..2"|])] public partial class P;""" },
        { "PK0010", """[CachePolicy("p")] public partial class P; [[|CachePolicy("p")|]] public partial class Q;""" },
        { "PK0011", """[[|PromptRefresh(Every = 3)|]] public partial class P;""" },
        { "PK0011", """[[|RefreshAllOnBlockStart|]] public class P;""" },
        { "PK0012", """[CachePolicy([|"has space"|])] public partial class P;""" },
        { "PK0012", """[CachePolicy([|""|])] public partial class P;""" },
        { "PK0013", """[CachePolicy("p")] [[|FullRefresh|]] public partial class P;""" },
        { "PK0013", """[CachePolicy("p")] [[|FullRefresh(Every = -2)|]] public partial class P;""" },
        { "PK0014", """[CachePolicy("p")] [RefreshStates([|RowStates.Settled|])] public partial class P;""" },
        { "PK0014", """[CachePolicy("p")] [RefreshStates([|RowStates.None|])] public partial class P;""" },
        { "PK0015", """[CachePolicy("p")] [Vicinity([|Window = 0|])] public partial class P;""" },
        { "PK0015", """[CachePolicy("p")] [[|DropFarSuffix|]] public partial class P;""" },
        { "PK0016", """[CachePolicy("p")] [Vicinity(Window = 8)] [DropFarSuffix([|Window = 16|])] public partial class P;""" },
        { "PK0009", """[CachePolicy("p", UsesCache = false)] [[|DropFarSuffix(Window = 4)|]] public partial class P;""" },
        { "PK0017", """[CachePolicy("p")] [AdaptiveResponse([|Threshold = 0.5|], Probe = Probe.AttentionReceived)] public partial class P;""" },
        { "PK0017", """[CachePolicy("p")] [AdaptiveStates(RowStates.Masked, [|Threshold = 0.5|], Probe = Probe.Confidence)] public partial class P;""" },
        { "PK0018", """[CachePolicy("p")] [[|DriftTrigger|]] public partial class P;""" },
        { "PK0018", """[CachePolicy("p")] [DriftTrigger([|Threshold = 1.5|])] public partial class P;""" },
        { "PK0018", """[CachePolicy("p")] [DriftTrigger(Threshold = 0.9, [|Probe = Probe.CertaintyPrior|])] public partial class P;""" },
        { "PK0006", """[CachePolicy("p")] [DriftTrigger(Threshold = 0.9, [|Layers = "a..b"|])] public partial class P;""" },
        { "PK0007", """[CachePolicy("p")] [AdaptiveStates(RowStates.Masked, Ratio = 0.5, [|Layers = "6..2"|])] public partial class P;""" },
        { "PK0019", """[CachePolicy("p")] [AdaptiveStates([|RowStates.Settled|], Ratio = 0.5)] public partial class P;""" },
        { "PK0006", """[CachePolicy("p")] [RefreshStates(RowStates.Masked, [|Layers = "x"|])] public partial class P;""" },
        { "PK0007", """[CachePolicy("p")] [Vicinity(Window = 4, [|Layers = "^1..^3"|])] public partial class P;""" },
        { "PK0019", """[CachePolicy("p")] [[|AdaptiveStates(RowStates.Masked)|]] public partial class P;""" },
        { "PK0019", """[CachePolicy("p")] [AdaptiveStates(RowStates.Masked, [|Ratio = 0|])] public partial class P;""" },
        { "PK0019", """[CachePolicy("p")] [AdaptiveStates(RowStates.Masked, [|Threshold = -3|], Probe = Probe.Value)] public partial class P;""" },
        { "PK0009", """[CachePolicy("p")] [RefreshStates(RowStates.Masked)] [[|AdaptiveStates(RowStates.Masked, Ratio = 0.5)|]] public partial class P;""" },
        { "PK0009", """[CachePolicy("p")] [RefreshStates(RowStates.JustDecoded | RowStates.Masked)] [[|AdaptiveStates(RowStates.Masked | RowStates.JustDecoded, Ratio = 0.5)|]] public partial class P;""" },
        { "PK0009", """[CachePolicy("p", UsesCache = false)] [[|DriftTrigger(Threshold = 0.9)|]] public partial class P;""" },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void ReportsAtTheOffendingAttribute(string id, string markedSource)
    {
        string source = "using PolicyKit;\nnamespace Sample;\n" + markedSource;
        int start = source.IndexOf("[|", StringComparison.Ordinal);
        int end = source.IndexOf("|]", StringComparison.Ordinal) - 2;
        source = source.Replace("[|", "").Replace("|]", "");

        var (_, diagnostics, output) = GeneratorHarness.Run(source);

        var diagnostic = Assert.Single(diagnostics);
        Assert.Equal(id, diagnostic.Id);
        Assert.Equal(DiagnosticSeverity.Error, diagnostic.Severity);
        var span = diagnostic.Location.GetLineSpan();
        Assert.Equal("Test0.cs", span.Path);
        Assert.Equal(source.Substring(start, end - start), source.Substring(diagnostic.Location.SourceSpan.Start, diagnostic.Location.SourceSpan.Length));
        Assert.Equal(2, span.StartLinePosition.Line); // the declaration line, after the two header lines
        string message = diagnostic.GetMessage();
        Assert.DoesNotContain("{", message);
        Assert.True(message.Length > 40, message);

        // The generated code itself never adds compiler errors on top of the generator's diagnostic.
        Assert.DoesNotContain(output.GetDiagnostics(), d => d.Severity == DiagnosticSeverity.Error && d.Location.SourceTree?.FilePath.EndsWith(".g.cs") == true);
    }

    [Fact]
    public void EveryDescriptorHasATriggeringCase()
    {
        var covered = Cases.Select(row => (string)row[0]).ToHashSet();
        Assert.All(PolicyDiagnostics.All, descriptor => Assert.Contains(descriptor.Id, covered));
    }

    [Fact]
    public void MessagesSayHowToFix()
    {
        var (_, diagnostics, _) = GeneratorHarness.Run("""
            using PolicyKit;
            [CachePolicy("p")] [ResponseRefresh(Every = 2, Layers = "0..8")] [ResponseRefresh(Every = 3, Layers = "4..")] public partial class P;
            """);
        var message = Assert.Single(diagnostics).GetMessage();
        Assert.Equal(
            "[ResponseRefresh] Layers = \"4..\" overlaps [ResponseRefresh] Layers = \"0..8\" (both cover layers 4..8), so two ResponseRefresh rules would apply to the same layer. Make the ranges disjoint, e.g. \"0..8\" and \"8..\".",
            message);
    }

    [Fact]
    public void AdjacentAndFromEndRangesDoNotOverlap()
    {
        var (sources, diagnostics, _) = GeneratorHarness.Run("""
            using PolicyKit;
            [CachePolicy("p")]
            [ResponseRefresh(Every = 2, Layers = "0..8")] [ResponseRefresh(Every = 3, Layers = "8..")]
            [PromptRefresh(Every = 5, Layers = "..^4")] [PromptRefresh(Every = 6, Layers = "^4..")]
            public partial class P;
            """);
        Assert.Empty(diagnostics);
        Assert.Contains("P.CachePolicy.g.cs", sources.Keys);
    }
}
