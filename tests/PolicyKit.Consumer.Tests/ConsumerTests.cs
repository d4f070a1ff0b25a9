using System.IO.Compression;
using Xunit.Abstractions;

namespace PolicyKit.Consumer.Tests;

/// <summary>
/// The packages as a user gets them: a separate project references them by package only, declares its own policy,
/// registers it with AddPolicyKit, resolves it by name, checks it with PolicyKit.Testing and generates with it on a
/// random model, gets an IChatClient through DI and streams an answer from the shipped model (printing it as it
/// comes); an invalid declaration fails that project's build with the generator's diagnostic.
/// </summary>
public sealed class ConsumerTests(ConsumerFixture fixture, ITestOutputHelper log) : IClassFixture<ConsumerFixture>
{
    private static readonly TimeSpan BuildTimeout = TimeSpan.FromMinutes(5);
    private static readonly TimeSpan RunTimeout = TimeSpan.FromMinutes(3);

    private void RequirePacked()
    {
        var pack = fixture.PackResult;
        log.WriteLine($"pack {fixture.Version}: exit {pack.ExitCode} in {pack.Elapsed.TotalSeconds:F0} s");
        Assert.True(pack.ExitCode == 0, pack.ToString());
    }

    [Fact]
    public void Packages_carry_metadata_symbols_and_the_generator()
    {
        RequirePacked();
        foreach (var id in ConsumerFixture.PackageIds)
        {
            var package = Path.Combine(fixture.Feed, $"{id}.{fixture.Version}.nupkg");
            Assert.True(File.Exists(package), $"{package} was not produced. Pack output:\n{fixture.PackResult.Output}");
            Assert.True(File.Exists(Path.ChangeExtension(package, ".snupkg")), $"no symbol package for {id}");
            using var zip = ZipFile.OpenRead(package);
            var entries = zip.Entries.Select(e => e.FullName).ToArray();
            Assert.Contains("README.md", entries);
            Assert.Contains($"lib/net10.0/{id}.dll", entries);
            using var reader = new StreamReader(zip.GetEntry($"{id}.nuspec")!.Open());
            var nuspec = reader.ReadToEnd();
            Assert.Contains("<license type=\"expression\">MIT</license>", nuspec);
            Assert.Contains("<readme>README.md</readme>", nuspec);
            Assert.Matches("<description>.{20,}</description>", nuspec);
            Assert.DoesNotContain("PolicyKit.Generators", nuspec); // the generator ships inside PolicyKit, not as a dependency
            if (id == "PolicyKit")
                Assert.Contains("analyzers/dotnet/cs/PolicyKit.Generators.dll", entries);
        }
    }

    [Fact]
    public void A_user_project_builds_its_own_policy_from_the_packages_and_serves_it()
    {
        RequirePacked();
        var project = fixture.WriteUserProject("app");
        var build = DotNet.Run(project, BuildTimeout, "build", "-c", "Release", "--disable-build-servers", "-nodeReuse:false");
        log.WriteLine($"user build: {build.Elapsed.TotalSeconds:F0} s");
        Assert.True(build.ExitCode == 0, build.ToString());

        var dll = Path.Combine(project, "bin", "Release", "net10.0", "ConsumerApp.dll");
        // The shipped reference model too, where the checkout has one (the program then serves both).
        var shipped = Path.Combine(fixture.RepositoryRoot, "models", "policykit-ref");
        // The transform test prompt the shipped model answers exactly, asked through the user's chat client.
        var sample = PolicyKit.Tasks.TaskSuite.TestSet(new PolicyKit.Tasks.TransformTask(), 1)[0];
        var promptFile = Path.Combine(project, "chat-prompt.txt");
        File.WriteAllText(promptFile, sample.Prompt);
        string[] arguments = File.Exists(Path.Combine(shipped, "config.json"))
            ? [dll, Path.Combine(project, "model"), shipped, promptFile]
            : [dll, Path.Combine(project, "model")];
        if (arguments.Length == 2)
            log.WriteLine($"no shipped model at {shipped}: the random model only");
        var run = DotNet.Run(project, RunTimeout, arguments);
        log.WriteLine($"user program: {run.Elapsed.TotalSeconds:F0} s\n{run.Output}");
        Assert.True(run.ExitCode == 0 && run.Output.Contains("CONSUMER-OK", StringComparison.Ordinal), run.ToString());
        Assert.Contains("random: policy=consumer-window", run.Output);
        Assert.Contains("random chat: updates=17 ", run.Output);   // 16 steps, then the last update
        if (arguments.Length == 4)
        {
            Assert.Contains("shipped: policy=consumer-window", run.Output);
            // Streamed from the shipped model through DI and printed: the task's expected answer.
            Assert.Contains($"shipped chat: {sample.Answer}\n", run.Output.ReplaceLineEndings("\n"));
            Assert.Contains("shipped chat: updates=", run.Output);
            Assert.Contains("output-tokens=32 model=policykit-ref", run.Output);
        }

        // The generator that ran is the packaged one: the only PolicyKit assets restored are this run's packages.
        var assets = File.ReadAllText(Path.Combine(project, "obj", "project.assets.json"));
        Assert.Contains($"PolicyKit/{fixture.Version}", assets);
        Assert.Contains($"analyzers/dotnet/cs/PolicyKit.Generators.dll", assets);
    }

    [Fact]
    public void An_invalid_declaration_fails_the_user_build_with_its_diagnostic_id()
    {
        RequirePacked();
        var project = fixture.WriteUserProject("invalid", ("InvalidPolicy.cs.template", "InvalidPolicy.cs"));
        var build = DotNet.Run(project, BuildTimeout, "build", "-c", "Release", "--disable-build-servers", "-nodeReuse:false");
        log.WriteLine($"invalid build: {build.Elapsed.TotalSeconds:F0} s");
        Assert.True(build.ExitCode != 0, "the build should have failed:\n" + build);
        Assert.Contains("error PK0003", build.Output);
        Assert.Contains("InvalidPolicy.cs", build.Output);
    }
}
