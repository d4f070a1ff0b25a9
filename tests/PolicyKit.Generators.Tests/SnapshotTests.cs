using System.Runtime.CompilerServices;

namespace PolicyKit.Generators.Tests;

/// <summary>
/// Exact-text tests of generated source. On a mismatch the actual text is written next to the snapshot as
/// <c>*.received.txt</c>; after reviewing it, rerun with POLICYKIT_UPDATE_SNAPSHOTS=1 to accept it.
/// </summary>
public class SnapshotTests
{
    private const string DllmCache = """
        using PolicyKit;
        namespace Sample;

        [CachePolicy("dllm-cache", Description = "dLLM-Cache defaults")]
        [PromptRefresh(Every = 100)]
        [ResponseRefresh(Every = 7)]
        [AdaptiveResponse(Ratio = 0.25, Probe = Probe.Value)]
        [AlwaysRefreshLayers(0)]
        public sealed partial class DllmCache;
        """;

    private const string DepthHybrid = """
        using PolicyKit;
        namespace Sample;

        [CachePolicy("hybrid")]
        [PromptRefresh(Every = 50, Layers = "..^2")]
        [PromptRefresh(Every = 10, Layers = "^2..")]
        [ResponseRefresh(Every = 4, Layers = "0..8")]
        [AdaptiveResponse(Ratio = 0.1, Layers = "8..^4")]
        [AdaptiveResponse(Threshold = 0.9, Probe = Probe.Key, Layers = "^4..")]
        [RefreshActiveBlock(IncludeSuffix = true, Layers = "0..2")]
        [RefreshAllOnBlockStart]
        public partial class Hybrid;
        """;

    private const string FastDllmPrefix = """
        using PolicyKit;

        [CachePolicy("fast-dllm-prefix")]
        [RefreshAllOnBlockStart]
        [RefreshActiveBlock(IncludeSuffix = true)]
        internal partial class FastDllmPrefix;
        """;

    private const string None = """
        using PolicyKit;
        namespace Sample;

        [CachePolicy("none", UsesCache = false)]
        public partial class NoCache;
        """;

    // Every second-wave attribute in one declaration: full refresh on a schedule, decode-state overrides, the
    // vicinity and the dropped far suffix (one window), over first-wave segment rules.
    private const string SecondWave = """
        using PolicyKit;
        namespace Sample;

        [CachePolicy("second-wave")]
        [PromptRefresh(Every = 50)]
        [FullRefresh(Every = 8, WarmupSteps = 2)]
        [RefreshStates(RowStates.Masked | RowStates.JustDecoded)]
        [Vicinity(Window = 16)]
        [DropFarSuffix(Window = 16)]
        public sealed partial class SecondWave;
        """;

    [Fact]
    public void SecondWavePolicy() => AssertSnapshot(SecondWave, "Sample.SecondWave.CachePolicy.g.cs");

    // The probes and the cross-layer trigger: a ranged drift test, masked rows by certainty, the others by attention
    // (measured at the layers of both ranked rules).
    private const string Ranked = """
        using PolicyKit;
        namespace Sample;

        [CachePolicy("ranked")]
        [RefreshAllOnBlockStart]
        [RefreshStates(RowStates.JustDecoded, Layers = "..4")]
        [AdaptiveStates(RowStates.Masked, Ratio = 0.25, Probe = Probe.CertaintyPrior, Layers = "2..")]
        [Vicinity(Window = 8, Layers = "^2..")]
        [AdaptiveResponse(Ratio = 0.1, Probe = Probe.AttentionReceived, Layers = "..^1")]
        [DriftTrigger(Threshold = 0.9, Probe = Probe.Key, Layers = "1..^1")]
        public sealed partial class Ranked;
        """;

    [Fact]
    public void ProbeAndTriggerPolicy() => AssertSnapshot(Ranked, "Sample.Ranked.CachePolicy.g.cs");

    [Fact]
    public void DllmCachePolicy() => AssertSnapshot(DllmCache, "Sample.DllmCache.CachePolicy.g.cs");

    [Fact]
    public void LayerRangedHybridPolicy() => AssertSnapshot(DepthHybrid, "Sample.Hybrid.CachePolicy.g.cs");

    [Fact]
    public void GlobalNamespaceInternalPolicy() => AssertSnapshot(FastDllmPrefix, "FastDllmPrefix.CachePolicy.g.cs");

    [Fact]
    public void UncachedPolicy() => AssertSnapshot(None, "Sample.NoCache.CachePolicy.g.cs");

    [Fact]
    public void Registry() => AssertSnapshot(DllmCache + "\n" + None.Replace("namespace Sample;", ""), "PolicyKit.PolicyRegistry.g.cs");

    [Fact]
    public void ServiceCollectionExtensions() =>
        AssertSnapshot(DllmCache, "PolicyKit.PolicyServiceCollectionExtensions.g.cs", withDependencyInjection: true);

    [Fact]
    public void NoServiceCollectionExtensionsWithoutDependencyInjection()
    {
        var (sources, _, _) = GeneratorHarness.Run(DllmCache);
        Assert.DoesNotContain("PolicyKit.PolicyServiceCollectionExtensions.g.cs", sources.Keys);
        Assert.Contains("PolicyKit.PolicyRegistry.g.cs", sources.Keys);
    }

    [Fact]
    public void NothingIsEmittedForAnInvalidDeclaration()
    {
        var (sources, diagnostics, _) = GeneratorHarness.Run("""
            using PolicyKit;
            [CachePolicy("bad")]
            [PromptRefresh(Every = 0)]
            public partial class Bad;
            """);
        Assert.Empty(sources);
        Assert.Contains(diagnostics, d => d.Id == "PK0002");
    }

    private static void AssertSnapshot(string source, string hintName, bool withDependencyInjection = false, [CallerMemberName] string test = "")
    {
        var (sources, diagnostics, _) = GeneratorHarness.Run(source, withDependencyInjection);
        Assert.Empty(diagnostics);
        Assert.True(sources.TryGetValue(hintName, out var actual), $"No generated file '{hintName}'; got: {string.Join(", ", sources.Keys)}");

        string path = Path.Combine(SnapshotDirectory(), $"{test}.verified.txt");
        string received = Path.ChangeExtension(path, null).Replace(".verified", "") + ".received.txt";
        if (Environment.GetEnvironmentVariable("POLICYKIT_UPDATE_SNAPSHOTS") == "1")
        {
            File.WriteAllText(path, actual);
            File.Delete(received);
            return;
        }
        Assert.True(File.Exists(path), $"Snapshot {path} is missing; run with POLICYKIT_UPDATE_SNAPSHOTS=1 to create it.");
        string expected = File.ReadAllText(path).ReplaceLineEndings("\n");
        if (expected != actual)
            File.WriteAllText(received, actual);
        Assert.Equal(expected, actual);
    }

    private static string SnapshotDirectory([CallerFilePath] string thisFile = "")
    {
        var fromSource = Path.Combine(Path.GetDirectoryName(thisFile)!, "Snapshots");
        if (Directory.Exists(fromSource)) return fromSource;
        // CI builds (ContinuousIntegrationBuild) map source paths to /_/, so find the project above the test binaries.
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "PolicyKit.Generators.Tests.csproj")))
                return Path.Combine(dir.FullName, "Snapshots");
        throw new DirectoryNotFoundException($"No Snapshots folder beside {thisFile} or above {AppContext.BaseDirectory}.");
    }
}
